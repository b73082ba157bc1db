//! Which database the schema pages and scans look at: the platform's own, the database a
//! BackupPolicy points at (its connection Secret), or a connection an admin configured. The
//! key is what scans and suppressions store in their `target` column.

use super::health::PLATFORM;

/// Longest name of a configured connection.
pub const MAX_CONNECTION_NAME: usize = 63;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Platform,
    /// The database of the BackupPolicy `namespace/name` (`spec.database.secretRef`).
    BackupPolicy {
        namespace: String,
        name: String,
    },
    /// A connection configured by an admin (`javari_schema_connections`).
    Connection {
        name: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown database target (platform, backup:NAMESPACE/NAME or connection:NAME with lower-case letters, digits and '-')"
)]
pub struct InvalidTarget;

/// A Kubernetes object name or a connection name: lower-case letters, digits and `-`,
/// starting and ending with a letter or digit, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CONNECTION_NAME
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes object name (DNS subdomain: labels joined by dots, at most 253).
pub fn is_object_name(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

impl Target {
    /// Reads a key as [`Target::key`] writes it; empty means the platform.
    pub fn parse(key: &str) -> Result<Self, InvalidTarget> {
        let key = key.trim();
        if key.is_empty() || key == PLATFORM {
            return Ok(Self::Platform);
        }
        if let Some(rest) = key.strip_prefix("backup:") {
            let (namespace, name) = rest.split_once('/').ok_or(InvalidTarget)?;
            if is_dns_label(namespace) && is_object_name(name) {
                return Ok(Self::BackupPolicy {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                });
            }
            return Err(InvalidTarget);
        }
        if let Some(name) = key.strip_prefix("connection:")
            && is_dns_label(name)
        {
            return Ok(Self::Connection {
                name: name.to_owned(),
            });
        }
        Err(InvalidTarget)
    }

    /// The stored key: `platform`, `backup:NAMESPACE/NAME` or `connection:NAME`.
    pub fn key(&self) -> String {
        match self {
            Self::Platform => PLATFORM.to_owned(),
            Self::BackupPolicy { namespace, name } => format!("backup:{namespace}/{name}"),
            Self::Connection { name } => format!("connection:{name}"),
        }
    }

    /// How the pages name it.
    pub fn label(&self) -> String {
        match self {
            Self::Platform => "the platform's database".to_owned(),
            Self::BackupPolicy { namespace, name } => {
                format!("BackupPolicy {namespace}/{name}")
            }
            Self::Connection { name } => format!("connection {name}"),
        }
    }

    pub fn is_platform(&self) -> bool {
        *self == Self::Platform
    }

    /// The query string the pages append to their links (`?db=…`), empty for the platform.
    pub fn query(&self) -> String {
        if self.is_platform() {
            String::new()
        } else {
            // Keys hold only [a-z0-9-.:/]; `:` and `/` are fine in a query value.
            format!("?db={}", self.key())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_bad_names_are_refused() {
        for t in [
            Target::Platform,
            Target::BackupPolicy {
                namespace: "apps".into(),
                name: "orders-db".into(),
            },
            Target::Connection {
                name: "legacy-crm".into(),
            },
        ] {
            assert_eq!(Target::parse(&t.key()), Ok(t.clone()));
        }
        assert_eq!(Target::parse(""), Ok(Target::Platform));
        for bad in [
            "backup:apps",
            "backup:Apps/x",
            "connection:",
            "connection:a b",
            "connection:-x",
            "connection:x'; DROP",
            "elsewhere",
        ] {
            assert_eq!(Target::parse(bad), Err(InvalidTarget), "{bad}");
        }
        assert_eq!(
            Target::Connection { name: "crm".into() }.query(),
            "?db=connection:crm"
        );
        assert_eq!(Target::Platform.query(), "");
    }
}
