//! What introspection finds: typed structs for tables, columns, keys, indexes, policies and
//! triggers, grouped into modules by table-name prefix.

use serde::Serialize;

/// The name prefixes under which a second word names the module (`javari_chat_messages` is
/// in module `javari_chat`); any other table's module is its first word.
pub const PLATFORM_PREFIXES: &[&str] = &["javari"];

/// The module a table belongs to, from its name: the first word before `_` (the seed's
/// `bv_`, `bot_` prefixes), two words under a platform prefix, `other` for one-word names.
pub fn module_of(table: &str) -> String {
    let mut words = table.split('_').filter(|w| !w.is_empty());
    let Some(first) = words.next() else {
        return "other".to_owned();
    };
    let Some(second) = words.next() else {
        return "other".to_owned();
    };
    if PLATFORM_PREFIXES.contains(&first) {
        format!("{first}_{second}")
    } else {
        first.to_owned()
    }
}

/// A table's place: schema and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

impl TableRef {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// `schema.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The console's page for the table.
    pub fn href(&self) -> String {
        format!("/schema/tables/{}/{}", self.schema, self.name)
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// The whole of what was introspected.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Catalog {
    pub database: String,
    pub tables: Vec<Table>,
    pub functions: Vec<Function>,
    pub key_sequences: Vec<KeySequence>,
}

impl Catalog {
    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.at.schema == schema && t.at.name == name)
    }

    /// Module names in order, each with its tables.
    pub fn modules(&self) -> Vec<(String, Vec<&Table>)> {
        let mut modules: std::collections::BTreeMap<String, Vec<&Table>> = Default::default();
        for t in &self.tables {
            modules.entry(t.module.clone()).or_default().push(t);
        }
        modules.into_iter().collect()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Table {
    pub at: TableRef,
    pub module: String,
    pub comment: Option<String>,
    /// `table` or `partitioned table`.
    pub kind: String,
    pub columns: Vec<Column>,
    pub primary_key: Option<Key>,
    pub unique_keys: Vec<Key>,
    /// Foreign keys of this table.
    pub foreign_keys: Vec<ForeignKey>,
    /// Foreign keys of other tables pointing here.
    pub referenced_by: Vec<ForeignKey>,
    pub indexes: Vec<Index>,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub policies: Vec<Policy>,
    pub triggers: Vec<Trigger>,
    pub stats: TableStats,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TableStats {
    /// The planner's estimate (`reltuples`); `None` before the first ANALYZE or VACUUM.
    pub estimated_rows: Option<i64>,
    /// Table, indexes and TOAST.
    pub total_bytes: i64,
    /// The table's main fork alone.
    pub table_bytes: i64,
    /// Bytes beyond what the live rows need (from `reltuples`, `pg_stats` widths and the
    /// pages in use); `None` without statistics.
    pub bloat_bytes: Option<i64>,
    pub dead_rows: i64,
    pub seq_scans: i64,
    pub index_scans: i64,
    /// `age(relfrozenxid)`, the older of the table and its TOAST table.
    pub xid_age: Option<i64>,
}

impl TableStats {
    /// Share of the table that is bloat, 0–1.
    pub fn bloat_ratio(&self) -> Option<f64> {
        let bloat = self.bloat_bytes?;
        (self.table_bytes > 0).then(|| bloat as f64 / self.table_bytes as f64)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub name: String,
    pub position: i32,
    /// As `format_type` writes it: `timestamp with time zone`, `character varying(20)`.
    pub data_type: String,
    pub default: Option<String>,
    pub nullable: bool,
    pub comment: Option<String>,
    /// `always` or `by default` for identity columns.
    pub identity: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Key {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    pub name: String,
    pub from: TableRef,
    pub from_columns: Vec<String>,
    pub to: TableRef,
    pub to_columns: Vec<String>,
    /// `cascade`, `restrict`, `set null`, `set default` or `no action`.
    pub on_delete: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Index {
    pub name: String,
    /// Key columns (or expressions), in order; included columns are not keys.
    pub columns: Vec<String>,
    pub definition: String,
    pub method: String,
    pub unique: bool,
    pub primary: bool,
    pub valid: bool,
    pub predicate: Option<String>,
    /// Backs a primary key, unique or exclusion constraint.
    pub constraint: bool,
    /// Access method, key columns, operator classes, options, expressions and predicate:
    /// equal signatures index the same thing.
    pub signature: String,
    pub bytes: i64,
    pub scans: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub name: String,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    pub permissive: bool,
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub check: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trigger {
    pub name: String,
    pub definition: String,
    pub function: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub arguments: String,
    pub security_definer: bool,
    /// The function sets its own `search_path` (`SET search_path = ...`).
    pub pinned_search_path: bool,
    pub language: String,
}

impl Function {
    pub fn signature(&self) -> String {
        format!("{}.{}({})", self.schema, self.name, self.arguments)
    }
}

/// A sequence that feeds a table's integer column (serial or identity).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeySequence {
    pub table: TableRef,
    pub column: String,
    pub data_type: String,
    pub sequence: String,
    /// `None` when the sequence was never used (or cannot be read).
    pub last_value: Option<i64>,
}

impl KeySequence {
    /// The largest value the column's type holds.
    pub fn type_max(&self) -> i64 {
        match self.data_type.as_str() {
            "smallint" => i16::MAX as i64,
            "integer" => i32::MAX as i64,
            _ => i64::MAX,
        }
    }

    /// Share of the column's range used, 0–1.
    pub fn used(&self) -> f64 {
        self.last_value.unwrap_or(0).max(0) as f64 / self.type_max() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_come_from_name_prefixes() {
        assert_eq!(module_of("javari_chat_sessions"), "javari_chat");
        assert_eq!(module_of("javari_users"), "javari_users");
        assert_eq!(module_of("bv_bottles"), "bv");
        assert_eq!(module_of("bot_runs"), "bot");
        assert_eq!(module_of("customers"), "other");
        assert_eq!(module_of("saved_searches"), "saved");
    }

    #[test]
    fn key_sequences_measure_their_range() {
        let mut s = KeySequence {
            table: TableRef::new("public", "t"),
            column: "id".into(),
            data_type: "integer".into(),
            sequence: "t_id_seq".into(),
            last_value: Some(i32::MAX as i64 / 2),
        };
        assert!((s.used() - 0.5).abs() < 0.001);
        s.last_value = None;
        assert_eq!(s.used(), 0.0);
        s.data_type = "bigint".into();
        assert_eq!(s.type_max(), i64::MAX);
    }
}
