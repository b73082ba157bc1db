//! Relation diagrams drawn on the server as SVG: a table with its neighbours (tables it
//! references on the right, tables referencing it on the left) and a module's tables with
//! the foreign keys between them. Pure functions; every box links to its table's page.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::{Table, TableRef};

const BOX_W: i32 = 250;
const ROW_H: i32 = 18;
const TITLE_H: i32 = 24;
const GAP: i32 = 16;
const LEFT_X: i32 = 10;
const CENTER_X: i32 = 350;
const RIGHT_X: i32 = 690;
const WIDTH: i32 = 950;
/// Columns drawn in the centre box; the rest are summed up in one line.
pub const MAX_COLUMNS: usize = 24;
/// Neighbours drawn on each side; the rest are summed up.
pub const MAX_NEIGHBOURS: usize = 24;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clip(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(chars.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn header(out: &mut String, width: i32, height: i32, label: &str) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="schema-diagram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{}"><style>.b{{fill:#fff;stroke:#445}}.t{{fill:#e8ecf4;stroke:#445}}text{{font:12px sans-serif;fill:#111}}.h{{font-weight:bold}}.m{{fill:#555}}.e{{stroke:#7a8;stroke-width:1.5;fill:none}}</style>"##,
        escape(label)
    );
}

/// A box: title bar and lines of text, linked to `href`.
fn table_box(
    out: &mut String,
    x: i32,
    y: i32,
    title: &str,
    href: &str,
    lines: &[(String, bool)],
) -> i32 {
    let h = TITLE_H + ROW_H * lines.len() as i32 + 6;
    let _ = write!(
        out,
        r#"<a href="{}"><rect class="b" x="{x}" y="{y}" width="{BOX_W}" height="{h}" rx="4"/><rect class="t" x="{x}" y="{y}" width="{BOX_W}" height="{TITLE_H}" rx="4"/><text class="h" x="{}" y="{}">{}</text></a>"#,
        escape(href),
        x + 8,
        y + 16,
        escape(&clip(title, 34))
    );
    for (i, (line, muted)) in lines.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text{} x="{}" y="{}">{}</text>"#,
            if *muted { r#" class="m""# } else { "" },
            x + 8,
            y + TITLE_H + 14 + ROW_H * i as i32,
            escape(&clip(line, 38))
        );
    }
    h
}

fn edge(out: &mut String, x1: i32, y1: i32, x2: i32, y2: i32) {
    let mid = (x1 + x2) / 2;
    let _ = write!(
        out,
        r##"<path class="e" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"/><circle cx="{x2}" cy="{y2}" r="3" fill="#7a8"/>"##
    );
}

/// A neighbour box's place and the foreign keys drawn to it.
struct Side {
    tables: BTreeMap<TableRef, Vec<String>>,
}

impl Side {
    fn new() -> Self {
        Self {
            tables: BTreeMap::new(),
        }
    }
}

/// The table in the middle with its columns; the tables it references on the right, the
/// tables referencing it on the left, each with the foreign key's columns.
pub fn neighbourhood(table: &Table) -> String {
    neighbourhood_linked(table, "")
}

/// [`neighbourhood`] with `link_query` (`?db=…`) appended to every link.
pub fn neighbourhood_linked(table: &Table, link_query: &str) -> String {
    let mut outgoing = Side::new();
    for fk in &table.foreign_keys {
        outgoing
            .tables
            .entry(fk.to.clone())
            .or_default()
            .push(format!(
                "{} → {}",
                fk.from_columns.join(", "),
                fk.to_columns.join(", ")
            ));
    }
    let mut incoming = Side::new();
    for fk in &table.referenced_by {
        incoming
            .tables
            .entry(fk.from.clone())
            .or_default()
            .push(format!(
                "{} → {}",
                fk.from_columns.join(", "),
                fk.to_columns.join(", ")
            ));
    }
    let mut lines: Vec<(String, bool)> = table
        .columns
        .iter()
        .take(MAX_COLUMNS)
        .map(|c| {
            let pk = table
                .primary_key
                .as_ref()
                .is_some_and(|k| k.columns.contains(&c.name));
            (
                format!("{}{} {}", if pk { "🔑 " } else { "" }, c.name, c.data_type),
                false,
            )
        })
        .collect();
    if table.columns.len() > MAX_COLUMNS {
        lines.push((
            format!("… {} more columns", table.columns.len() - MAX_COLUMNS),
            true,
        ));
    }
    let row_of = |column: &str| {
        table
            .columns
            .iter()
            .take(MAX_COLUMNS)
            .position(|c| c.name == column)
            .map_or(TITLE_H / 2, |i| TITLE_H + 9 + ROW_H * i as i32)
    };
    let side_height = |side: &Side| -> i32 {
        side.tables
            .values()
            .take(MAX_NEIGHBOURS)
            .map(|l| TITLE_H + ROW_H * l.len() as i32 + 6 + GAP)
            .sum::<i32>()
            + if side.tables.len() > MAX_NEIGHBOURS {
                ROW_H + GAP
            } else {
                0
            }
    };
    let center_h = TITLE_H + ROW_H * lines.len() as i32 + 6;
    let height = (center_h + 2 * GAP)
        .max(side_height(&outgoing) + GAP)
        .max(side_height(&incoming) + GAP);
    let mut out = String::new();
    header(
        &mut out,
        WIDTH,
        height,
        &format!("Relations of {}", table.at),
    );
    let center_y = GAP;
    let mut boxes = String::new();
    for (side, x, is_out) in [(&incoming, LEFT_X, false), (&outgoing, RIGHT_X, true)] {
        let mut y = GAP;
        for (at, fks) in side.tables.iter().take(MAX_NEIGHBOURS) {
            let labels: Vec<(String, bool)> = fks.iter().map(|f| (f.clone(), true)).collect();
            let href = format!("{}{link_query}", at.href());
            let h = table_box(&mut boxes, x, y, &at.qualified(), &href, &labels);
            let first = fks.first().map(String::as_str).unwrap_or_default();
            // The centre's end: the referencing column (outgoing) or the referenced one.
            let column = if is_out {
                first.split(" → ").next().unwrap_or_default()
            } else {
                first.split(" → ").nth(1).unwrap_or_default()
            };
            let column = column.split(", ").next().unwrap_or_default();
            let cy = center_y + row_of(column);
            if is_out {
                edge(&mut out, CENTER_X + BOX_W, cy, x, y + TITLE_H / 2);
            } else {
                edge(&mut out, x + BOX_W, y + TITLE_H / 2, CENTER_X, cy);
            }
            y += h + GAP;
        }
        if side.tables.len() > MAX_NEIGHBOURS {
            let _ = write!(
                boxes,
                r#"<text class="m" x="{}" y="{}">… {} more tables</text>"#,
                x + 8,
                y + 12,
                side.tables.len() - MAX_NEIGHBOURS
            );
        }
    }
    out.push_str(&boxes);
    table_box(
        &mut out,
        CENTER_X,
        center_y,
        &table.at.qualified(),
        &format!("{}{link_query}", table.at.href()),
        &lines,
    );
    out.push_str("</svg>");
    out
}

const GRID_W: i32 = 230;
const GRID_H: i32 = 46;
const GRID_GAP_X: i32 = 50;
const GRID_GAP_Y: i32 = 40;

/// The module's tables in a grid, with a line for each foreign key between two of them.
pub fn module(name: &str, tables: &[&Table]) -> String {
    module_linked(name, tables, "")
}

/// [`module`] with `link_query` (`?db=…`) appended to every link.
pub fn module_linked(name: &str, tables: &[&Table], link_query: &str) -> String {
    let n = tables.len().max(1);
    let cols = ((n as f64).sqrt().ceil() as usize).clamp(1, 5);
    let rows = n.div_ceil(cols);
    let width = cols as i32 * (GRID_W + GRID_GAP_X) + GRID_GAP_X;
    let height = rows as i32 * (GRID_H + GRID_GAP_Y) + GRID_GAP_Y;
    let place: BTreeMap<&TableRef, (i32, i32)> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (c, r) = ((i % cols) as i32, (i / cols) as i32);
            (
                &t.at,
                (
                    GRID_GAP_X + c * (GRID_W + GRID_GAP_X),
                    GRID_GAP_Y + r * (GRID_H + GRID_GAP_Y),
                ),
            )
        })
        .collect();
    let mut out = String::new();
    header(&mut out, width, height, &format!("Tables of module {name}"));
    for t in tables {
        for fk in &t.foreign_keys {
            if let (Some(&(x1, y1)), Some(&(x2, y2))) = (place.get(&fk.from), place.get(&fk.to)) {
                let _ = write!(
                    out,
                    r#"<line class="e" x1="{}" y1="{}" x2="{}" y2="{}"><title>{}</title></line>"#,
                    x1 + GRID_W / 2,
                    y1 + GRID_H / 2,
                    x2 + GRID_W / 2,
                    y2 + GRID_H / 2,
                    escape(&fk.name)
                );
            }
        }
    }
    for t in tables {
        let (x, y) = place[&t.at];
        let rows = t
            .stats
            .estimated_rows
            .map_or(String::new(), |r| format!(" · ~{r} rows"));
        table_box(
            &mut out,
            x,
            y,
            &t.at.name,
            &format!("{}{link_query}", t.at.href()),
            &[(format!("{} columns{rows}", t.columns.len()), true)],
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::export::tests::sample;

    #[test]
    fn the_neighbourhood_links_both_directions() {
        let (orders, customers) = sample();
        let svg = neighbourhood(&orders);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"<a href="/schema/tables/public/customers">"#));
        assert!(svg.contains("customer_id → id"));
        assert!(svg.contains("placed_at timestamp with time zone"));
        assert_eq!(svg.matches("<path class=\"e\"").count(), 1);
        let back = neighbourhood(&customers);
        assert!(back.contains(r#"<a href="/schema/tables/public/orders">"#));
        // Titles are escaped.
        let mut odd = orders.clone();
        odd.columns[0].name = "<script>".into();
        assert!(neighbourhood(&odd).contains("&lt;script&gt;"));
        assert!(!neighbourhood(&odd).contains("<script>"));
    }

    #[test]
    fn a_module_draws_each_table_and_its_inner_foreign_keys() {
        let (orders, customers) = sample();
        let svg = module("shop", &[&customers, &orders]);
        assert_eq!(svg.matches("<a href=").count(), 2);
        assert_eq!(svg.matches("<line class=\"e\"").count(), 1);
        let alone = module("shop", &[&orders]);
        assert_eq!(alone.matches("<line").count(), 0);
    }

    #[test]
    fn long_tables_are_summed_up() {
        let (mut orders, _) = sample();
        let template = orders.columns[0].clone();
        for i in 0..40 {
            let mut c = template.clone();
            c.name = format!("c{i}");
            orders.columns.push(c);
        }
        let svg = neighbourhood(&orders);
        assert!(svg.contains(&format!(
            "… {} more columns",
            orders.columns.len() - MAX_COLUMNS
        )));
    }
}
