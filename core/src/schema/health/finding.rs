//! A finding: one problem of one object, with what to do about it and a key that stays the
//! same from scan to scan (suppressions and "new since the last scan" are keyed on it).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warn,
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "error" => Some(Self::Error),
            "warn" => Some(Self::Warn),
            "info" => Some(Self::Info),
            _ => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Security,
    Performance,
    Maintainability,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Security => "security",
            Self::Performance => "performance",
            Self::Maintainability => "maintainability",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "security" => Some(Self::Security),
            "performance" => Some(Self::Performance),
            "maintainability" => Some(Self::Maintainability),
            _ => None,
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The checks, one variant each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    UnindexedForeignKey,
    NoPrimaryKey,
    UserTableWithoutRls,
    PolicyWithRlsDisabled,
    RlsWithoutPolicy,
    DuplicateIndex,
    RedundantIndex,
    UnusedIndex,
    InvalidIndex,
    DuplicateTable,
    MutableSearchPath,
    TimestampWithoutTimeZone,
    JsonNotJsonb,
    KeyNearExhaustion,
    TransactionIdAge,
    TableBloat,
    MissingComment,
    Drift,
}

impl Check {
    pub const ALL: [Check; 18] = [
        Check::UnindexedForeignKey,
        Check::NoPrimaryKey,
        Check::UserTableWithoutRls,
        Check::PolicyWithRlsDisabled,
        Check::RlsWithoutPolicy,
        Check::DuplicateIndex,
        Check::RedundantIndex,
        Check::UnusedIndex,
        Check::InvalidIndex,
        Check::DuplicateTable,
        Check::MutableSearchPath,
        Check::TimestampWithoutTimeZone,
        Check::JsonNotJsonb,
        Check::KeyNearExhaustion,
        Check::TransactionIdAge,
        Check::TableBloat,
        Check::MissingComment,
        Check::Drift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnindexedForeignKey => "unindexed_foreign_key",
            Self::NoPrimaryKey => "no_primary_key",
            Self::UserTableWithoutRls => "user_table_without_rls",
            Self::PolicyWithRlsDisabled => "policy_with_rls_disabled",
            Self::RlsWithoutPolicy => "rls_without_policy",
            Self::DuplicateIndex => "duplicate_index",
            Self::RedundantIndex => "redundant_index",
            Self::UnusedIndex => "unused_index",
            Self::InvalidIndex => "invalid_index",
            Self::DuplicateTable => "duplicate_table",
            Self::MutableSearchPath => "mutable_search_path",
            Self::TimestampWithoutTimeZone => "timestamp_without_time_zone",
            Self::JsonNotJsonb => "json_not_jsonb",
            Self::KeyNearExhaustion => "key_near_exhaustion",
            Self::TransactionIdAge => "transaction_id_age",
            Self::TableBloat => "table_bloat",
            Self::MissingComment => "missing_comment",
            Self::Drift => "drift",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub check: Check,
    pub level: Level,
    pub category: Category,
    /// The object: `schema.table`, `schema.table.column`, an index or function name.
    pub object: String,
    pub description: String,
    pub remediation: String,
    /// `check:object`; the same problem of the same object has the same key in every scan.
    pub key: String,
}

impl Finding {
    pub fn new(
        check: Check,
        level: Level,
        category: Category,
        object: impl Into<String>,
        description: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        let object = object.into();
        Self {
            key: format!("{}:{}", check.as_str(), object),
            check,
            level,
            category,
            object,
            description: description.into(),
            remediation: remediation.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_keys_are_stable() {
        for c in Check::ALL {
            assert_eq!(Check::parse(c.as_str()), Some(c));
        }
        for l in [Level::Error, Level::Warn, Level::Info] {
            assert_eq!(Level::parse(l.as_str()), Some(l));
        }
        let a = Finding::new(
            Check::NoPrimaryKey,
            Level::Warn,
            Category::Maintainability,
            "public.t",
            "one",
            "x",
        );
        let b = Finding::new(
            Check::NoPrimaryKey,
            Level::Warn,
            Category::Maintainability,
            "public.t",
            "two",
            "y",
        );
        assert_eq!(a.key, b.key);
        assert_eq!(a.key, "no_primary_key:public.t");
    }
}
