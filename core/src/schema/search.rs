//! Search across table and column names and comments.

use sqlx::PgPool;

use super::model::TableRef;

/// Most hits returned.
pub const MAX_HITS: i64 = 200;
/// Longest query accepted.
pub const MAX_QUERY_CHARS: usize = 200;

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Hit {
    pub schema: String,
    pub table: String,
    /// `None` when the table itself matched.
    pub column: Option<String>,
    pub data_type: Option<String>,
    pub comment: Option<String>,
}

impl Hit {
    pub fn at(&self) -> TableRef {
        TableRef::new(&self.schema, &self.table)
    }
}

/// `%`, `_` and `\` in a user's text are literal in ILIKE.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Tables and columns whose name or comment contains `query` (case-insensitive): tables
/// first, then columns, by name.
pub async fn search(pool: &PgPool, query: &str) -> Result<Vec<Hit>, sqlx::Error> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let pattern = like_pattern(&query.chars().take(MAX_QUERY_CHARS).collect::<String>());
    sqlx::query_as(
        "WITH rels AS (
             SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e'))
         SELECT schema, table_name AS table, column_name AS column, data_type, comment FROM (
             SELECT r.schema, r.name AS table_name, NULL::text AS column_name, NULL::text AS data_type,
                    obj_description(r.oid, 'pg_class') AS comment, 0 AS rank, 0 AS num
             FROM rels r
             WHERE r.name ILIKE $1 OR obj_description(r.oid, 'pg_class') ILIKE $1
             UNION ALL
             SELECT r.schema, r.name, a.attname::text, format_type(a.atttypid, a.atttypmod),
                    col_description(r.oid, a.attnum), 1, a.attnum
             FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE a.attname ILIKE $1 OR col_description(r.oid, a.attnum) ILIKE $1
         ) hits
         ORDER BY rank, schema, table_name, num
         LIMIT $2",
    )
    .bind(pattern)
    .bind(MAX_HITS)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn wildcards_in_the_query_are_literal() {
        assert_eq!(like_pattern("user_id"), "%user\\_id%");
        assert_eq!(like_pattern("50%"), "%50\\%%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }
}
