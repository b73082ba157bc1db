//! Reading the schema from `pg_catalog`: one query per kind of object, for every table in the
//! user's schemas (not `pg_catalog`, `information_schema`, `pg_toast`, temporary schemas, nor
//! objects an extension owns) or for a chosen few.

use std::collections::HashMap;

use sqlx::PgPool;

use super::model::*;

/// The relations introspected: ordinary and partitioned tables of user schemas, not owned
/// by an extension, optionally limited to `$1` (oids).
const RELS: &str = "
    SELECT c.oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      AND ($1::int8[] IS NULL OR c.oid = ANY($1::int8[]::oid[]))";

/// Which tables to read.
#[derive(Clone, Debug)]
pub enum Scope {
    All,
    /// Tables by schema and name; unknown ones are left out.
    Tables(Vec<TableRef>),
}

/// A table in the listing: what the index page and search show without reading columns.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct TableSummary {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub comment: Option<String>,
    pub estimated_rows: Option<i64>,
    pub total_bytes: i64,
    pub columns: i64,
}

impl TableSummary {
    pub fn at(&self) -> TableRef {
        TableRef::new(&self.schema, &self.name)
    }
    pub fn module(&self) -> String {
        module_of(&self.name)
    }
}

/// Every table with its size, row estimate and comment.
pub async fn list_tables(pool: &PgPool) -> Result<Vec<TableSummary>, sqlx::Error> {
    let sql = format!(
        "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name,
                obj_description(c.oid, 'pg_class') AS comment,
                CASE WHEN c.reltuples >= 0 THEN c.reltuples::int8 END AS estimated_rows,
                pg_total_relation_size(c.oid)::int8 AS total_bytes,
                (SELECT count(*) FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::int8 AS columns
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid IN ({RELS})
         ORDER BY n.nspname, c.relname"
    );
    sqlx::query_as::<_, TableSummary>(sqlx::AssertSqlSafe(sql))
        .bind(None::<Vec<i64>>)
        .fetch_all(pool)
        .await
}

/// Every table's schema and name, nothing else (cheap: no sizes).
pub async fn list_table_names(pool: &PgPool) -> Result<Vec<TableRef>, sqlx::Error> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid IN ({RELS}) ORDER BY 1, 2"
    );
    let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(None::<Vec<i64>>)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(schema, name)| TableRef::new(schema, name))
        .collect())
}

async fn oids_of(pool: &PgPool, tables: &[TableRef]) -> Result<Vec<i64>, sqlx::Error> {
    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    sqlx::query_scalar(
        "SELECT c.oid::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN unnest($1::text[], $2::text[]) AS w(s, t) ON w.s = n.nspname AND w.t = c.relname",
    )
    .bind(schemas)
    .bind(names)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct TableRow {
    oid: i64,
    schema: String,
    name: String,
    kind: String,
    comment: Option<String>,
    rls_enabled: bool,
    rls_forced: bool,
    reltuples: f64,
    pages: i64,
    total_bytes: i64,
    table_bytes: i64,
    row_width: Option<i64>,
    dead_rows: i64,
    seq_scans: i64,
    index_scans: i64,
    xid_age: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    oid: i64,
    name: String,
    position: i32,
    data_type: String,
    default: Option<String>,
    nullable: bool,
    comment: Option<String>,
    identity: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ConstraintRow {
    oid: i64,
    name: String,
    kind: String,
    columns: Vec<String>,
    to_schema: Option<String>,
    to_name: Option<String>,
    to_oid: Option<i64>,
    to_columns: Vec<String>,
    on_delete: String,
    from_schema: String,
    from_name: String,
}

#[derive(sqlx::FromRow)]
struct IndexRow {
    oid: i64,
    name: String,
    columns: Vec<String>,
    definition: String,
    method: String,
    unique: bool,
    primary: bool,
    valid: bool,
    predicate: Option<String>,
    constraint: bool,
    signature: String,
    bytes: i64,
    scans: i64,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    oid: i64,
    name: String,
    command: String,
    permissive: bool,
    roles: Vec<String>,
    using: Option<String>,
    check: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TriggerRow {
    oid: i64,
    name: String,
    definition: String,
    function: String,
    enabled: bool,
}

/// Reads the tables in `scope`, with the functions and key sequences of the whole database
/// when the scope is everything.
pub async fn introspect(pool: &PgPool, scope: &Scope) -> Result<Catalog, sqlx::Error> {
    let filter: Option<Vec<i64>> = match scope {
        Scope::All => None,
        Scope::Tables(tables) => Some(oids_of(pool, tables).await?),
    };
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(pool)
        .await?;

    let sql = format!(
        "SELECT c.oid::int8 AS oid, n.nspname::text AS schema, c.relname::text AS name,
                CASE c.relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END AS kind,
                obj_description(c.oid, 'pg_class') AS comment,
                c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
                c.reltuples::float8 AS reltuples, c.relpages::int8 AS pages,
                pg_total_relation_size(c.oid)::int8 AS total_bytes,
                pg_relation_size(c.oid)::int8 AS table_bytes,
                (SELECT sum(s.avg_width)::int8 FROM pg_stats s
                 WHERE s.schemaname = n.nspname AND s.tablename = c.relname) AS row_width,
                pg_stat_get_dead_tuples(c.oid)::int8 AS dead_rows,
                pg_stat_get_numscans(c.oid)::int8 AS seq_scans,
                (SELECT coalesce(sum(pg_stat_get_numscans(i.indexrelid)), 0) FROM pg_index i
                 WHERE i.indrelid = c.oid)::int8 AS index_scans,
                CASE WHEN c.relkind = 'r' THEN
                     greatest(age(c.relfrozenxid), coalesce(age(t.relfrozenxid), 0))::int8 END AS xid_age
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
         WHERE c.oid IN ({RELS})
         ORDER BY n.nspname, c.relname"
    );
    let table_rows: Vec<TableRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter)
        .fetch_all(pool)
        .await?;

    let sql = format!(
        "SELECT a.attrelid::int8 AS oid, a.attname::text AS name, a.attnum::int4 AS position,
                format_type(a.atttypid, a.atttypmod) AS data_type,
                pg_get_expr(d.adbin, d.adrelid) AS default,
                NOT a.attnotnull AS nullable,
                col_description(a.attrelid, a.attnum) AS comment,
                CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity
         FROM pg_attribute a
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid IN ({RELS}) AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attrelid, a.attnum"
    );
    let column_rows: Vec<ColumnRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter)
        .fetch_all(pool)
        .await?;

    // Constraints of the tables, and foreign keys of any table pointing at them.
    let sql = format!(
        "SELECT con.conrelid::int8 AS oid, con.conname::text AS name, con.contype::text AS kind,
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                      ORDER BY k.ord) AS columns,
                tn.nspname::text AS to_schema, tc.relname::text AS to_name,
                CASE WHEN con.confrelid <> 0 THEN con.confrelid::int8 END AS to_oid,
                ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                      ORDER BY k.ord) AS to_columns,
                CASE con.confdeltype WHEN 'c' THEN 'cascade' WHEN 'r' THEN 'restrict'
                     WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END AS on_delete,
                fn.nspname::text AS from_schema, fc.relname::text AS from_name
         FROM pg_constraint con
         JOIN pg_class fc ON fc.oid = con.conrelid
         JOIN pg_namespace fn ON fn.oid = fc.relnamespace
         LEFT JOIN pg_class tc ON tc.oid = con.confrelid
         LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
         WHERE con.contype IN ('p', 'u', 'f') AND con.conparentid = 0
           AND (con.conrelid IN ({RELS}) OR (con.contype = 'f' AND con.confrelid IN ({RELS})))
         ORDER BY con.conrelid, con.conname"
    );
    let constraint_rows: Vec<ConstraintRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter)
        .fetch_all(pool)
        .await?;

    let sql = format!(
        "SELECT i.indrelid::int8 AS oid, ic.relname::text AS name,
                ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                      FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS columns,
                pg_get_indexdef(i.indexrelid) AS definition, am.amname::text AS method,
                i.indisunique AS unique, i.indisprimary AS primary, i.indisvalid AS valid,
                pg_get_expr(i.indpred, i.indrelid) AS predicate,
                EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                        AND con.contype IN ('p', 'u', 'x')) AS constraint,
                concat_ws('|', am.amname, i.indkey::text, i.indclass::text, i.indcollation::text,
                          i.indoption::text, pg_get_expr(i.indexprs, i.indrelid),
                          pg_get_expr(i.indpred, i.indrelid)) AS signature,
                pg_relation_size(i.indexrelid)::int8 AS bytes,
                pg_stat_get_numscans(i.indexrelid)::int8 AS scans
         FROM pg_index i
         JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_am am ON am.oid = ic.relam
         WHERE i.indrelid IN ({RELS})
         ORDER BY i.indrelid, ic.relname"
    );
    let index_rows: Vec<IndexRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter)
        .fetch_all(pool)
        .await?;

    let sql = format!(
        "SELECT p.polrelid::int8 AS oid, p.polname::text AS name,
                CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                              WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
                p.polpermissive AS permissive,
                ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                      FROM unnest(p.polroles) r) AS roles,
                pg_get_expr(p.polqual, p.polrelid) AS using,
                pg_get_expr(p.polwithcheck, p.polrelid) AS check
         FROM pg_policy p
         WHERE p.polrelid IN ({RELS})
         ORDER BY p.polrelid, p.polname"
    );
    let policy_rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter)
        .fetch_all(pool)
        .await?;

    let sql = format!(
        "SELECT t.tgrelid::int8 AS oid, t.tgname::text AS name,
                pg_get_triggerdef(t.oid) AS definition, p.proname::text AS function,
                t.tgenabled <> 'D' AS enabled
         FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE NOT t.tgisinternal AND t.tgrelid IN ({RELS})
         ORDER BY t.tgrelid, t.tgname"
    );
    let trigger_rows: Vec<TriggerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter)
        .fetch_all(pool)
        .await?;

    let (functions, key_sequences) = if filter.is_none() {
        (functions(pool).await?, key_sequences(pool).await?)
    } else {
        (Vec::new(), Vec::new())
    };

    let mut tables: Vec<Table> = Vec::with_capacity(table_rows.len());
    let mut position: HashMap<i64, usize> = HashMap::new();
    for r in table_rows {
        position.insert(r.oid, tables.len());
        tables.push(table_from(r));
    }
    for c in column_rows {
        if let Some(&i) = position.get(&c.oid) {
            tables[i].columns.push(Column {
                name: c.name,
                position: c.position,
                data_type: c.data_type,
                default: c.default,
                nullable: c.nullable,
                comment: c.comment,
                identity: c.identity,
            });
        }
    }
    for c in constraint_rows {
        let key = Key {
            name: c.name.clone(),
            columns: c.columns.clone(),
        };
        match c.kind.as_str() {
            "p" | "u" => {
                if let Some(&i) = position.get(&c.oid) {
                    if c.kind == "p" {
                        tables[i].primary_key = Some(key);
                    } else {
                        tables[i].unique_keys.push(key);
                    }
                }
            }
            _ => {
                let fk = ForeignKey {
                    name: c.name,
                    from: TableRef::new(c.from_schema, c.from_name),
                    from_columns: c.columns,
                    to: TableRef::new(
                        c.to_schema.unwrap_or_default(),
                        c.to_name.unwrap_or_default(),
                    ),
                    to_columns: c.to_columns,
                    on_delete: c.on_delete,
                };
                if let Some(&i) = c.to_oid.as_ref().and_then(|o| position.get(o)) {
                    tables[i].referenced_by.push(fk.clone());
                }
                if let Some(&i) = position.get(&c.oid) {
                    tables[i].foreign_keys.push(fk);
                }
            }
        }
    }
    for x in index_rows {
        if let Some(&i) = position.get(&x.oid) {
            tables[i].indexes.push(Index {
                name: x.name,
                columns: x.columns,
                definition: x.definition,
                method: x.method,
                unique: x.unique,
                primary: x.primary,
                valid: x.valid,
                predicate: x.predicate,
                constraint: x.constraint,
                signature: x.signature,
                bytes: x.bytes,
                scans: x.scans,
            });
        }
    }
    for p in policy_rows {
        if let Some(&i) = position.get(&p.oid) {
            tables[i].policies.push(Policy {
                name: p.name,
                command: p.command,
                permissive: p.permissive,
                roles: p.roles,
                using: p.using,
                check: p.check,
            });
        }
    }
    for t in trigger_rows {
        if let Some(&i) = position.get(&t.oid) {
            tables[i].triggers.push(Trigger {
                name: t.name,
                definition: t.definition,
                function: t.function,
                enabled: t.enabled,
            });
        }
    }
    Ok(Catalog {
        database,
        tables,
        functions,
        key_sequences,
    })
}

const PAGE_BYTES: f64 = 8192.0;
/// Tuple header and line pointer of a heap row.
const ROW_OVERHEAD: f64 = 28.0;
/// Page header.
const PAGE_HEADER: f64 = 24.0;

/// Bytes beyond what `rows` rows of `width` bytes need in `pages` pages.
pub fn estimate_bloat(rows: f64, width: Option<i64>, pages: i64) -> Option<i64> {
    let width = width? as f64;
    if rows < 0.0 || pages <= 0 {
        return None;
    }
    let per_page = ((PAGE_BYTES - PAGE_HEADER) / (width + ROW_OVERHEAD))
        .floor()
        .max(1.0);
    let needed = (rows / per_page).ceil().max(1.0) as i64;
    Some(((pages - needed).max(0) as f64 * PAGE_BYTES) as i64)
}

fn table_from(r: TableRow) -> Table {
    let estimated_rows = (r.reltuples >= 0.0).then_some(r.reltuples as i64);
    let bloat_bytes = if r.reltuples >= 0.0 {
        estimate_bloat(r.reltuples, r.row_width, r.pages)
    } else {
        None
    };
    Table {
        module: module_of(&r.name),
        at: TableRef::new(r.schema, r.name),
        comment: r.comment,
        kind: r.kind,
        columns: Vec::new(),
        primary_key: None,
        unique_keys: Vec::new(),
        foreign_keys: Vec::new(),
        referenced_by: Vec::new(),
        indexes: Vec::new(),
        rls_enabled: r.rls_enabled,
        rls_forced: r.rls_forced,
        policies: Vec::new(),
        triggers: Vec::new(),
        stats: TableStats {
            estimated_rows,
            total_bytes: r.total_bytes,
            table_bytes: r.table_bytes,
            bloat_bytes,
            dead_rows: r.dead_rows,
            seq_scans: r.seq_scans,
            index_scans: r.index_scans,
            xid_age: r.xid_age,
        },
    }
}

#[derive(sqlx::FromRow)]
struct FunctionRow {
    schema: String,
    name: String,
    arguments: String,
    security_definer: bool,
    pinned_search_path: bool,
    language: String,
}

async fn functions(pool: &PgPool) -> Result<Vec<Function>, sqlx::Error> {
    let rows: Vec<FunctionRow> = sqlx::query_as(
        "SELECT n.nspname::text AS schema, p.proname::text AS name,
                pg_get_function_identity_arguments(p.oid) AS arguments,
                p.prosecdef AS security_definer,
                coalesce(EXISTS (SELECT 1 FROM unnest(p.proconfig) cfg
                                 WHERE cfg LIKE 'search\\_path=%'), false) AS pinned_search_path,
                l.lanname::text AS language
         FROM pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace
         JOIN pg_language l ON l.oid = p.prolang
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\\_%'
           AND p.prokind IN ('f', 'p')
           AND l.lanname NOT IN ('c', 'internal')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
         ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Function {
            schema: r.schema,
            name: r.name,
            arguments: r.arguments,
            security_definer: r.security_definer,
            pinned_search_path: r.pinned_search_path,
            language: r.language,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct SequenceRow {
    schema: String,
    name: String,
    column: String,
    data_type: String,
    sequence: String,
    last_value: Option<i64>,
}

async fn key_sequences(pool: &PgPool) -> Result<Vec<KeySequence>, sqlx::Error> {
    let rows: Vec<SequenceRow> = sqlx::query_as(
        "SELECT tn.nspname::text AS schema, t.relname::text AS name, a.attname::text AS column,
                format_type(a.atttypid, a.atttypmod) AS data_type,
                sn.nspname || '.' || s.relname AS sequence,
                CASE WHEN has_sequence_privilege(s.oid, 'SELECT') THEN ps.last_value END AS last_value
         FROM pg_depend d
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
         JOIN pg_namespace sn ON sn.oid = s.relnamespace
         JOIN pg_class t ON t.oid = d.refobjid
         JOIN pg_namespace tn ON tn.oid = t.relnamespace
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         LEFT JOIN pg_sequences ps ON ps.schemaname = sn.nspname AND ps.sequencename = s.relname
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.deptype IN ('a', 'i')
           AND tn.nspname NOT IN ('pg_catalog', 'information_schema') AND tn.nspname NOT LIKE 'pg\\_%'
           AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
         ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeySequence {
            table: TableRef::new(r.schema, r.name),
            column: r.column,
            data_type: r.data_type,
            sequence: r.sequence,
            last_value: r.last_value,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::estimate_bloat;

    #[test]
    fn bloat_is_the_pages_beyond_what_live_rows_need() {
        // 1000 rows of 72 bytes (+28 overhead) fit 81 to a page: 13 pages.
        assert_eq!(estimate_bloat(1000.0, Some(72), 13), Some(0));
        assert_eq!(estimate_bloat(1000.0, Some(72), 113), Some(100 * 8192));
        assert_eq!(estimate_bloat(1000.0, None, 113), None);
        assert_eq!(estimate_bloat(0.0, Some(8), 1), Some(0));
    }
}
