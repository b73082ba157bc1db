//! The shared schema made visible: introspection into typed structs (tables grouped by
//! module, columns, keys, foreign keys both ways, indexes, policies, triggers, statistics),
//! search, Markdown and Mermaid exports, SVG diagrams, health findings, drift from the
//! migrations and a read-only SQL console.

pub mod connections;
pub mod diagram;
pub mod drift;
pub mod export;
pub mod health;
pub mod introspect;
pub mod model;
pub mod search;
pub mod sql_console;
pub mod target;

pub use introspect::{Scope, TableSummary, introspect, list_tables};
pub use model::{Catalog, Table, TableRef, module_of};
pub use target::Target;
