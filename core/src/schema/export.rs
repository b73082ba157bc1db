//! A table or a module written out: Markdown (a data dictionary page) and Mermaid (an ER
//! diagram for docs that render it).

use std::fmt::Write;

use super::model::Table;

/// `|` and line breaks would break a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The tables as a Markdown data dictionary, under `title`.
pub fn markdown(title: &str, tables: &[&Table]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", cell(title));
    for t in tables {
        let _ = writeln!(out, "## {}\n", t.at);
        if let Some(c) = &t.comment {
            let _ = writeln!(out, "{}\n", c.trim());
        }
        let rows = t
            .stats
            .estimated_rows
            .map_or("unknown".to_owned(), |r| r.to_string());
        let _ = writeln!(
            out,
            "Module `{}` · about {rows} rows · {} KiB · row-level security {}\n",
            t.module,
            t.stats.total_bytes / 1024,
            if t.rls_enabled { "on" } else { "off" }
        );
        out.push_str("| Column | Type | Null | Default | Comment |\n|---|---|---|---|---|\n");
        for c in &t.columns {
            let key = t
                .primary_key
                .as_ref()
                .is_some_and(|k| k.columns.contains(&c.name));
            let _ = writeln!(
                out,
                "| {}{} | `{}` | {} | {} | {} |",
                cell(&c.name),
                if key { " (PK)" } else { "" },
                cell(&c.data_type),
                if c.nullable { "yes" } else { "no" },
                c.default
                    .as_deref()
                    .map(|d| format!("`{}`", cell(d)))
                    .unwrap_or_default(),
                cell(c.comment.as_deref().unwrap_or(""))
            );
        }
        if !t.foreign_keys.is_empty() {
            out.push_str("\n**References**\n\n");
            for fk in &t.foreign_keys {
                let _ = writeln!(
                    out,
                    "- `{}` ({}) → {} ({}), on delete {}",
                    fk.name,
                    fk.from_columns.join(", "),
                    fk.to,
                    fk.to_columns.join(", "),
                    fk.on_delete
                );
            }
        }
        if !t.referenced_by.is_empty() {
            out.push_str("\n**Referenced by**\n\n");
            for fk in &t.referenced_by {
                let _ = writeln!(
                    out,
                    "- {} ({}) via `{}`",
                    fk.from,
                    fk.from_columns.join(", "),
                    fk.name
                );
            }
        }
        if !t.indexes.is_empty() {
            out.push_str("\n**Indexes**\n\n");
            for i in &t.indexes {
                let _ = writeln!(out, "- `{}`", cell(&i.definition));
            }
        }
        if !t.policies.is_empty() {
            out.push_str("\n**Policies**\n\n");
            for p in &t.policies {
                let _ = writeln!(
                    out,
                    "- `{}` {} USING `{}`",
                    p.name,
                    p.command,
                    cell(p.using.as_deref().unwrap_or("true"))
                );
            }
        }
        out.push('\n');
    }
    out
}

/// Mermaid identifiers: letters, digits and `_`.
fn ident(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The tables as a Mermaid `erDiagram`, with their foreign keys (both ends need not be in
/// `tables`: a neighbour appears as a bare entity).
pub fn mermaid(tables: &[&Table]) -> String {
    let mut out = String::from("erDiagram\n");
    for t in tables {
        let _ = writeln!(out, "    {} {{", ident(&t.at.name));
        for c in &t.columns {
            let pk = t
                .primary_key
                .as_ref()
                .is_some_and(|k| k.columns.contains(&c.name));
            let fk = t
                .foreign_keys
                .iter()
                .any(|f| f.from_columns.contains(&c.name));
            let marks = match (pk, fk) {
                (true, true) => " PK, FK",
                (true, false) => " PK",
                (false, true) => " FK",
                _ => "",
            };
            let comment = c
                .comment
                .as_deref()
                .map(|s| format!(" \"{}\"", s.replace('"', "'").replace(['\n', '\r'], " ")))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "        {} {}{marks}{comment}",
                ident(&c.data_type),
                ident(&c.name)
            );
        }
        out.push_str("    }\n");
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in tables {
        for fk in t.foreign_keys.iter().chain(&t.referenced_by) {
            if !seen.insert(fk.name.clone() + &fk.from.qualified()) {
                continue;
            }
            let _ = writeln!(
                out,
                "    {} ||--o{{ {} : \"{}\"",
                ident(&fk.to.name),
                ident(&fk.from.name),
                fk.from_columns.join(", ")
            );
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::model::*;

    pub(crate) fn sample() -> (Table, Table) {
        let col = |name: &str, ty: &str, comment: Option<&str>| Column {
            name: name.into(),
            position: 1,
            data_type: ty.into(),
            default: None,
            nullable: false,
            comment: comment.map(str::to_owned),
            identity: None,
        };
        let fk = ForeignKey {
            name: "orders_customer_id_fkey".into(),
            from: TableRef::new("public", "orders"),
            from_columns: vec!["customer_id".into()],
            to: TableRef::new("public", "customers"),
            to_columns: vec!["id".into()],
            on_delete: "cascade".into(),
        };
        let base = |name: &str| Table {
            at: TableRef::new("public", name),
            module: module_of(name),
            comment: Some(format!("The {name} | all of them")),
            kind: "table".into(),
            columns: vec![col("id", "uuid", Some("Primary key"))],
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
        };
        let mut orders = base("orders");
        orders.columns.push(col("customer_id", "uuid", None));
        orders.columns.push(col(
            "placed_at",
            "timestamp with time zone",
            Some("When \"placed\""),
        ));
        orders.foreign_keys.push(fk.clone());
        let mut customers = base("customers");
        customers.referenced_by.push(fk);
        (orders, customers)
    }

    #[test]
    fn markdown_lists_columns_and_both_directions() {
        let (orders, customers) = sample();
        let md = markdown("Module shop", &[&orders, &customers]);
        assert!(md.starts_with("# Module shop\n"));
        assert!(md.contains("## public.orders"));
        assert!(md.contains("The orders | all of them"));
        assert!(md.contains("| id (PK) | `uuid` | no |  | Primary key |"));
        assert!(md.contains("| placed_at | `timestamp with time zone` |"));
        assert!(md.contains(
            "- `orders_customer_id_fkey` (customer_id) → public.customers (id), on delete cascade"
        ));
        assert!(md.contains("- public.orders (customer_id) via `orders_customer_id_fkey`"));
    }

    #[test]
    fn mermaid_has_entities_and_one_line_per_relation() {
        let (orders, customers) = sample();
        let m = mermaid(&[&orders, &customers]);
        assert!(m.starts_with("erDiagram\n"));
        assert!(m.contains("    orders {\n        uuid id PK \"Primary key\"\n        uuid customer_id FK\n        timestamp_with_time_zone placed_at \"When 'placed'\"\n    }"));
        assert_eq!(
            m.matches("customers ||--o{ orders : \"customer_id\"")
                .count(),
            1
        );
    }
}
