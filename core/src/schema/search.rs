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

/// [`search`] over an introspected snapshot: the same matches (case-insensitive substring of
/// a table's or column's name or comment), in the same order, without reading the catalog.
pub fn search_catalog(catalog: &super::model::Catalog, query: &str) -> Vec<Hit> {
    let query = query.trim();
    if query.is_empty() {
        return Vec::new();
    }
    let needle: String = query
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect::<String>()
        .to_lowercase();
    let matches = |text: &str| text.to_lowercase().contains(&needle);
    let mut tables: Vec<&super::model::Table> = catalog.tables.iter().collect();
    tables.sort_by(|a, b| a.at.cmp(&b.at));
    let mut hits: Vec<Hit> = tables
        .iter()
        .filter(|t| matches(&t.at.name) || t.comment.as_deref().is_some_and(matches))
        .map(|t| Hit {
            schema: t.at.schema.clone(),
            table: t.at.name.clone(),
            column: None,
            data_type: None,
            comment: t.comment.clone(),
        })
        .collect();
    for t in &tables {
        let mut columns: Vec<&super::model::Column> = t
            .columns
            .iter()
            .filter(|c| matches(&c.name) || c.comment.as_deref().is_some_and(matches))
            .collect();
        columns.sort_by_key(|c| c.position);
        hits.extend(columns.into_iter().map(|c| Hit {
            schema: t.at.schema.clone(),
            table: t.at.name.clone(),
            column: Some(c.name.clone()),
            data_type: Some(c.data_type.clone()),
            comment: c.comment.clone(),
        }));
    }
    hits.truncate(MAX_HITS as usize);
    hits
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn a_snapshot_is_searched_like_the_catalog() {
        let (orders, customers) = crate::schema::export::tests::sample();
        let catalog = crate::schema::model::Catalog {
            tables: vec![orders, customers],
            ..Default::default()
        };
        let hits = super::search_catalog(&catalog, "CUSTOMER");
        let found: Vec<(String, Option<String>)> = hits
            .iter()
            .map(|h| (h.table.clone(), h.column.clone()))
            .collect();
        assert_eq!(found[0], ("customers".to_owned(), None));
        assert!(found.contains(&("orders".to_owned(), Some("customer_id".to_owned()))));
        assert!(super::search_catalog(&catalog, "%").is_empty());
        assert!(super::search_catalog(&catalog, "  ").is_empty());
    }

    #[test]
    fn wildcards_in_the_query_are_literal() {
        assert_eq!(like_pattern("user_id"), "%user\\_id%");
        assert_eq!(like_pattern("50%"), "%50\\%%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }
}
