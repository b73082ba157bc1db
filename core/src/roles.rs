//! The console's three roles, also the vocabulary of the row-level policies (`javari.role`).

use std::fmt;

use serde::Serialize;

/// viewer < operator < admin: each role may do everything the one before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads conversations, knowledge and dashboards.
    Viewer,
    /// Chats, uploads knowledge, changes conversations.
    Operator,
    /// Manages users and API tokens.
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// A role column's value; anything unexpected grants the least.
    pub fn from_db(text: &str) -> Role {
        Role::parse(text).unwrap_or(Role::Viewer)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
