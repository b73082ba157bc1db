//! The checks, as pure functions of an introspected [`Catalog`]: every finding is derived
//! from what `pg_catalog` and the statistics views said at scan time.

use std::collections::BTreeMap;

use super::finding::{Category, Check, Finding, Level};
use crate::schema::model::{Catalog, Index, Table};

/// Where a measured check starts to report.
#[derive(Clone, Debug)]
pub struct Thresholds {
    /// Share of an integer key's range used: warn from here...
    pub key_warn: f64,
    /// ...and error from here.
    pub key_error: f64,
    /// `age(relfrozenxid)` of a table: warn (autovacuum is not keeping up)...
    pub xid_warn: i64,
    /// ...and error (wraparound protection is near: 2^31 stops writes).
    pub xid_error: i64,
    /// Share of a table that is bloat...
    pub bloat_ratio: f64,
    /// ...when the bloat is at least this many bytes.
    pub bloat_min_bytes: i64,
    /// An index never scanned is reported once its table holds this many rows.
    pub unused_index_min_rows: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            key_warn: 0.75,
            key_error: 0.90,
            xid_warn: 500_000_000,
            xid_error: 1_200_000_000,
            bloat_ratio: 0.5,
            bloat_min_bytes: 1024 * 1024,
            unused_index_min_rows: 10_000,
        }
    }
}

/// A table holds one user's data when it has a `user_id` column (the platform's rule).
pub fn is_user_owned(table: &Table) -> bool {
    table.column("user_id").is_some()
}

/// Every finding of `catalog`, in check order, each object once per check.
pub fn run_checks(catalog: &Catalog, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    for table in &catalog.tables {
        table_checks(table, t, &mut out);
    }
    duplicate_tables(catalog, &mut out);
    for f in &catalog.functions {
        if !f.pinned_search_path {
            let (level, why) = if f.security_definer {
                (
                    Level::Error,
                    "runs with its owner's rights and resolves names through the caller's search_path, so a caller can substitute objects",
                )
            } else {
                (
                    Level::Warn,
                    "resolves names through the caller's search_path, so what it calls depends on who calls it",
                )
            };
            out.push(Finding::new(
                Check::MutableSearchPath,
                level,
                Category::Security,
                f.signature(),
                format!("Function {} {why}.", f.signature()),
                format!(
                    "ALTER FUNCTION {} SET search_path = pg_catalog, {};",
                    f.signature(),
                    f.schema
                ),
            ));
        }
    }
    for s in &catalog.key_sequences {
        let used = s.used();
        if used >= t.key_warn {
            let level = if used >= t.key_error {
                Level::Error
            } else {
                Level::Warn
            };
            out.push(Finding::new(
                Check::KeyNearExhaustion,
                level,
                Category::Maintainability,
                format!("{}.{}", s.table, s.column),
                format!(
                    "{}.{} ({}) has used {:.0}% of its range (sequence {} at {}).",
                    s.table,
                    s.column,
                    s.data_type,
                    used * 100.0,
                    s.sequence,
                    s.last_value.unwrap_or(0)
                ),
                format!(
                    "Widen the column before it runs out: ALTER TABLE {} ALTER COLUMN {} TYPE bigint (rewrites the table; plan a window or a new column backfilled in batches).",
                    s.table, s.column
                ),
            ));
        }
    }
    out
}

fn table_checks(table: &Table, t: &Thresholds, out: &mut Vec<Finding>) {
    let name = table.at.qualified();
    // Foreign keys without an index starting with their columns.
    for fk in &table.foreign_keys {
        let covered = table.indexes.iter().any(|i| {
            i.valid
                && i.predicate.is_none()
                && i.columns.len() >= fk.from_columns.len()
                && fk
                    .from_columns
                    .iter()
                    .all(|c| i.columns[..fk.from_columns.len()].contains(c))
        });
        if !covered {
            let cols = fk.from_columns.join(", ");
            out.push(Finding::new(
                Check::UnindexedForeignKey,
                Level::Warn,
                Category::Performance,
                format!("{name}.{}", fk.name),
                format!(
                    "Foreign key {} on {name} ({cols}) → {} has no index: deletes and updates of {} scan {name}, and joins cannot use an index.",
                    fk.name, fk.to, fk.to
                ),
                format!(
                    "CREATE INDEX CONCURRENTLY idx_{}_{} ON {name} ({cols});",
                    table.at.name,
                    fk.from_columns.join("_")
                ),
            ));
        }
    }
    if table.primary_key.is_none() {
        out.push(Finding::new(
            Check::NoPrimaryKey,
            Level::Warn,
            Category::Maintainability,
            &name,
            format!("{name} has no primary key: rows cannot be addressed one by one, logical replication cannot update them, duplicates go unnoticed."),
            format!("ALTER TABLE {name} ADD PRIMARY KEY (...); or add an id column (uuid DEFAULT gen_random_uuid())."),
        ));
    }
    if is_user_owned(table) && !table.rls_enabled {
        out.push(Finding::new(
            Check::UserTableWithoutRls,
            Level::Error,
            Category::Security,
            &name,
            format!("{name} holds users' rows (it has user_id) but row-level security is off: any role that can read it reads every user's data."),
            format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY; ALTER TABLE {name} FORCE ROW LEVEL SECURITY; CREATE POLICY {}_owner ON {name} USING (user_id::text = current_setting('javari.user_id', true));", table.at.name),
        ));
    }
    if !table.policies.is_empty() && !table.rls_enabled {
        let names: Vec<&str> = table.policies.iter().map(|p| p.name.as_str()).collect();
        out.push(Finding::new(
            Check::PolicyWithRlsDisabled,
            Level::Error,
            Category::Security,
            &name,
            format!("{name} has policies ({}) but row-level security is off, so none of them applies.", names.join(", ")),
            format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY; (or drop the policies if they are obsolete)."),
        ));
    }
    if table.rls_enabled && table.policies.is_empty() {
        out.push(Finding::new(
            Check::RlsWithoutPolicy,
            Level::Info,
            Category::Security,
            &name,
            format!("{name} has row-level security on and no policy: only its owner (and roles with BYPASSRLS) see any row."),
            format!("Add a policy (CREATE POLICY ... ON {name} USING (...)) if other roles must read it; otherwise say so in the table's comment and suppress this finding."),
        ));
    }
    index_checks(table, t, out);
    for c in &table.columns {
        if c.data_type.starts_with("timestamp") && c.data_type.ends_with("without time zone") {
            out.push(Finding::new(
                Check::TimestampWithoutTimeZone,
                Level::Warn,
                Category::Maintainability,
                format!("{name}.{}", c.name),
                format!("{name}.{} is `{}`: the value means a different instant depending on the session's time zone.", c.name, c.data_type),
                format!("ALTER TABLE {name} ALTER COLUMN {} TYPE timestamptz USING {} AT TIME ZONE 'UTC';", c.name, c.name),
            ));
        }
        if c.data_type == "json" {
            out.push(Finding::new(
                Check::JsonNotJsonb,
                Level::Info,
                Category::Performance,
                format!("{name}.{}", c.name),
                format!("{name}.{} is `json`: it is re-parsed on every access, cannot be indexed with GIN and keeps duplicate keys.", c.name),
                format!("ALTER TABLE {name} ALTER COLUMN {} TYPE jsonb USING {}::jsonb; (keep json only where key order or exact text matters).", c.name, c.name),
            ));
        }
    }
    if let Some(age) = table.stats.xid_age
        && age >= t.xid_warn
    {
        let level = if age >= t.xid_error {
            Level::Error
        } else {
            Level::Warn
        };
        out.push(Finding::new(
            Check::TransactionIdAge,
            level,
            Category::Maintainability,
            &name,
            format!("{name} has not been frozen for {age} transactions; at about 2 billion PostgreSQL stops accepting writes to protect against wraparound."),
            format!("VACUUM (FREEZE, VERBOSE) {name}; then find what keeps autovacuum from freezing it (long transactions, abandoned replication slots or prepared transactions)."),
        ));
    }
    if let (Some(bloat), Some(ratio)) = (table.stats.bloat_bytes, table.stats.bloat_ratio())
        && ratio >= t.bloat_ratio
        && bloat >= t.bloat_min_bytes
    {
        out.push(Finding::new(
            Check::TableBloat,
            Level::Warn,
            Category::Performance,
            &name,
            format!("{name} is about {:.0}% bloat ({} KiB beyond what its live rows need): scans read the empty space too.", ratio * 100.0, bloat / 1024),
            format!("VACUUM {name}; reclaims the space for new rows; to give it back to the system use pg_repack, or VACUUM FULL {name} in a maintenance window (it locks the table). Tune autovacuum_vacuum_scale_factor for the table if it recurs."),
        ));
    }
    let uncommented: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| c.comment.as_deref().is_none_or(|s| s.trim().is_empty()))
        .map(|c| c.name.as_str())
        .collect();
    let table_missing = table.comment.as_deref().is_none_or(|s| s.trim().is_empty());
    if table_missing || !uncommented.is_empty() {
        let mut what = Vec::new();
        if table_missing {
            what.push("the table".to_owned());
        }
        if !uncommented.is_empty() {
            what.push(format!("columns {}", uncommented.join(", ")));
        }
        out.push(Finding::new(
            Check::MissingComment,
            Level::Info,
            Category::Maintainability,
            &name,
            format!("{name}: no comment on {}.", what.join(" and ")),
            format!("COMMENT ON TABLE {name} IS '...'; COMMENT ON COLUMN {name}.<column> IS '...'; in a migration (the data dictionary lives in the schema)."),
        ));
    }
}

fn index_checks(table: &Table, t: &Thresholds, out: &mut Vec<Finding>) {
    let name = table.at.qualified();
    let indexes = &table.indexes;
    for (i, a) in indexes.iter().enumerate() {
        let qualified = format!("{}.{}", table.at.schema, a.name);
        if !a.valid {
            out.push(Finding::new(
                Check::InvalidIndex,
                Level::Warn,
                Category::Performance,
                &qualified,
                format!("Index {qualified} on {name} is invalid (a CREATE INDEX CONCURRENTLY failed): it is maintained on every write but never used."),
                format!("DROP INDEX CONCURRENTLY {qualified}; then create it again (REINDEX INDEX CONCURRENTLY {qualified} if its definition is right)."),
            ));
            continue;
        }
        // Exact duplicates: report the later one (by name) of each pair, once.
        if let Some(original) = indexes[..i]
            .iter()
            .find(|b| b.valid && b.signature == a.signature)
        {
            let (keep, drop) = keep_which(original, a);
            out.push(Finding::new(
                Check::DuplicateIndex,
                Level::Warn,
                Category::Performance,
                format!("{}.{}", table.at.schema, drop.name),
                format!(
                    "Index {} on {name} indexes exactly what {} does: every write pays for both.",
                    drop.name, keep.name
                ),
                format!("DROP INDEX CONCURRENTLY {}.{};", table.at.schema, drop.name),
            ));
            continue;
        }
        if indexes[..i]
            .iter()
            .chain(&indexes[i + 1..])
            .any(|b| b.valid && b.signature == a.signature)
        {
            continue;
        }
        // A plain btree index whose keys are the leading keys of a longer one.
        if a.method == "btree" && !a.unique && a.predicate.is_none() && !a.constraint {
            if let Some(longer) = indexes.iter().find(|b| {
                b.valid
                    && b.name != a.name
                    && b.method == "btree"
                    && b.predicate.is_none()
                    && b.columns.len() > a.columns.len()
                    && b.columns[..a.columns.len()] == a.columns[..]
            }) {
                out.push(Finding::new(
                    Check::RedundantIndex,
                    Level::Info,
                    Category::Performance,
                    &qualified,
                    format!("Index {} on {name} ({}) is a prefix of {} ({}): queries it serves can use the longer one.", a.name, a.columns.join(", "), longer.name, longer.columns.join(", ")),
                    format!("DROP INDEX CONCURRENTLY {qualified}; (after checking the longer index is not much larger for these queries)."),
                ));
                continue;
            }
            let rows = table.stats.estimated_rows.unwrap_or(0);
            if a.scans == 0 && rows >= t.unused_index_min_rows {
                out.push(Finding::new(
                    Check::UnusedIndex,
                    Level::Info,
                    Category::Performance,
                    &qualified,
                    format!("Index {} on {name} ({} KiB) has not been used since statistics were last reset, while the table holds about {rows} rows.", a.name, a.bytes / 1024),
                    format!("If no rare query (monthly report, foreign key check) needs it: DROP INDEX CONCURRENTLY {qualified};"),
                ));
            }
        }
    }
}

/// Of two identical indexes, keep the one backing a constraint, else the first by name.
fn keep_which<'a>(a: &'a Index, b: &'a Index) -> (&'a Index, &'a Index) {
    let b_first = if a.constraint != b.constraint {
        b.constraint
    } else {
        b.name < a.name
    };
    if b_first { (b, a) } else { (a, b) }
}

/// Tables with the same column signature (names and types), reported once per group.
fn duplicate_tables(catalog: &Catalog, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<String>> = BTreeMap::new();
    for t in &catalog.tables {
        if t.columns.len() < 2 {
            continue;
        }
        let mut sig: Vec<(String, String)> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        sig.sort();
        groups.entry(sig).or_default().push(t.at.qualified());
    }
    for (_, tables) in groups {
        if tables.len() > 1 {
            let object = tables.join(",");
            out.push(Finding::new(
                Check::DuplicateTable,
                Level::Warn,
                Category::Maintainability,
                &object,
                format!("Tables {} have the same columns and types: probably one thing stored twice, and the copies drift apart.", tables.join(" and ")),
                "Keep one table, move the rows and the code to it, and drop the others (or make the others views of it).".to_owned(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::*;

    fn column(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            position: 1,
            data_type: ty.into(),
            default: None,
            nullable: true,
            comment: Some("c".into()),
            identity: None,
        }
    }

    fn index(name: &str, cols: &[&str]) -> Index {
        Index {
            name: name.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            definition: String::new(),
            method: "btree".into(),
            unique: false,
            primary: false,
            valid: true,
            predicate: None,
            constraint: false,
            signature: format!("btree|{}", cols.join(" ")),
            bytes: 8192,
            scans: 1,
        }
    }

    fn table(name: &str) -> Table {
        Table {
            at: TableRef::new("public", name),
            module: module_of(name),
            comment: Some("t".into()),
            kind: "table".into(),
            columns: vec![column("id", "uuid")],
            primary_key: Some(Key {
                name: format!("{name}_pkey"),
                columns: vec!["id".into()],
            }),
            unique_keys: vec![],
            foreign_keys: vec![],
            referenced_by: vec![],
            indexes: vec![],
            rls_enabled: false,
            rls_forced: false,
            policies: vec![],
            triggers: vec![],
            stats: TableStats::default(),
        }
    }

    fn checks_of(tables: Vec<Table>) -> Vec<(Check, String)> {
        let catalog = Catalog {
            tables,
            ..Catalog::default()
        };
        run_checks(&catalog, &Thresholds::default())
            .into_iter()
            .map(|f| (f.check, f.object))
            .collect()
    }

    #[test]
    fn a_clean_table_has_no_finding() {
        assert!(checks_of(vec![table("a")]).is_empty());
    }

    #[test]
    fn foreign_keys_need_a_leading_index() {
        let mut t = table("orders");
        t.columns.push(column("customer_id", "uuid"));
        t.columns
            .push(column("placed_at", "timestamp with time zone"));
        t.foreign_keys.push(ForeignKey {
            name: "orders_customer_id_fkey".into(),
            from: t.at.clone(),
            from_columns: vec!["customer_id".into()],
            to: TableRef::new("public", "customers"),
            to_columns: vec!["id".into()],
            on_delete: "no action".into(),
        });
        t.indexes.push(index(
            "idx_orders_placed_at_customer_id",
            &["placed_at", "customer_id"],
        ));
        assert_eq!(
            checks_of(vec![t.clone()]),
            vec![(
                Check::UnindexedForeignKey,
                "public.orders.orders_customer_id_fkey".to_owned()
            )]
        );
        t.indexes.push(index(
            "idx_orders_customer_id_placed_at",
            &["customer_id", "placed_at"],
        ));
        assert!(checks_of(vec![t]).is_empty());
    }

    #[test]
    fn duplicate_and_prefix_indexes_are_told_apart() {
        let mut t = table("events");
        t.indexes = vec![
            index("idx_a", &["kind"]),
            index("idx_b", &["kind"]),
            index("idx_c", &["at"]),
            index("idx_d", &["at", "kind"]),
        ];
        assert_eq!(
            checks_of(vec![t]),
            vec![
                (Check::DuplicateIndex, "public.idx_b".to_owned()),
                (Check::RedundantIndex, "public.idx_c".to_owned()),
            ]
        );
    }

    #[test]
    fn user_tables_need_rls_and_policies_need_it_on() {
        let mut t = table("notes");
        t.columns.push(column("user_id", "uuid"));
        assert_eq!(
            checks_of(vec![t.clone()]),
            vec![(Check::UserTableWithoutRls, "public.notes".to_owned())]
        );
        t.rls_enabled = true;
        assert_eq!(
            checks_of(vec![t.clone()]),
            vec![(Check::RlsWithoutPolicy, "public.notes".to_owned())]
        );
        t.policies.push(Policy {
            name: "own".into(),
            command: "ALL".into(),
            permissive: true,
            roles: vec!["public".into()],
            using: Some("true".into()),
            check: None,
        });
        assert!(checks_of(vec![t.clone()]).is_empty());
        t.columns.retain(|c| c.name != "user_id");
        t.rls_enabled = false;
        assert_eq!(
            checks_of(vec![t]),
            vec![(Check::PolicyWithRlsDisabled, "public.notes".to_owned())]
        );
    }

    #[test]
    fn duplicate_tables_are_one_finding_per_group() {
        let mut a = table("leads");
        a.columns.push(column("email", "text"));
        let mut b = table("contacts");
        b.columns.push(column("email", "text"));
        let c = table("other");
        assert_eq!(
            checks_of(vec![a, b, c]),
            vec![(
                Check::DuplicateTable,
                "public.leads,public.contacts".to_owned()
            )]
        );
    }

    #[test]
    fn measured_checks_start_at_their_thresholds() {
        let mut t = table("big");
        t.stats = TableStats {
            estimated_rows: Some(100),
            table_bytes: 4 * 1024 * 1024,
            bloat_bytes: Some(3 * 1024 * 1024),
            xid_age: Some(600_000_000),
            ..TableStats::default()
        };
        let found = checks_of(vec![t.clone()]);
        assert_eq!(
            found.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec![Check::TransactionIdAge, Check::TableBloat]
        );
        t.stats.bloat_bytes = Some(1024 * 1024);
        t.stats.xid_age = Some(1000);
        assert!(checks_of(vec![t]).is_empty());
    }

    #[test]
    fn missing_comments_name_what_is_missing() {
        let mut t = table("x");
        t.comment = None;
        t.columns[0].comment = None;
        let catalog = Catalog {
            tables: vec![t],
            ..Catalog::default()
        };
        let f = run_checks(&catalog, &Thresholds::default());
        assert_eq!(f.len(), 1);
        assert!(
            f[0].description.contains("the table and columns id"),
            "{}",
            f[0].description
        );
    }
}
