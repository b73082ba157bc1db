//! Types shared by several kinds: references, conditions and the status vocabulary.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An enum's one text form (`as_str`, `Display`) and its reading back (`FromStr`, ASCII
/// case-insensitive, naming the allowed values when it fails), so no caller matches strings.
macro_rules! text_enum {
    ($name:ident { $($variant:ident),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::common::UnknownValue;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::common::UnknownValue;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(text))
                    .ok_or_else(|| $crate::common::UnknownValue {
                        what: stringify!($name),
                        value: text.chars().take(40).collect(),
                        allowed: Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}
pub(crate) use text_enum;

/// A text that names none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?}: one of {allowed}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub allowed: String,
}

/// Condition types every Javari kind reports.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const PROGRESSING: &str = "Progressing";
    pub const DEGRADED: &str = "Degraded";
    /// A Credential's rotation is under way (or waits for a value).
    pub const ROTATING: &str = "Rotating";
    /// A Credential's value expires within its renewal window.
    pub const EXPIRING: &str = "Expiring";
}

/// A reference to another object of the platform in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalRef {
    /// Name of the referenced object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A key of a Credential's materialized Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialKeyRef {
    /// Name of the Credential in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Credential's Secret; `value` is the current version.
    #[serde(default = "default_credential_key")]
    pub key: String,
}

pub fn default_credential_key() -> String {
    "value".to_owned()
}

/// Health of a workload, worst-of-children, in Argo CD's vocabulary.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Health {
    Healthy,
    Progressing,
    Degraded,
    Suspended,
    Missing,
    #[default]
    Unknown,
}

text_enum!(Health {
    Healthy,
    Progressing,
    Degraded,
    Suspended,
    Missing,
    Unknown
});

/// Incident severity, P0 (platform down) to P3 (minor).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum Severity {
    P0,
    P1,
    #[default]
    P2,
    P3,
}

text_enum!(Severity { P0, P1, P2, P3 });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_from_their_text_in_either_case() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(*s));
        }
        assert_eq!("healthy".parse::<Health>(), Ok(Health::Healthy));
        let e = "P9".parse::<Severity>().expect_err("refused");
        assert_eq!(e.to_string(), "Severity \"P9\": one of P0, P1, P2, P3");
    }
}
