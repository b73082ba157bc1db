//! Projects: the Deployment and Service a Project becomes, its health (Argo CD's rules, worst
//! of children), and which image to run (never one marked bad).

mod build;
mod health;
mod revision;
mod store;

pub use build::{SELECTOR_LABEL, deployment, labels, service};
pub use health::{deployment_health, worst};
pub use revision::{Decision, choose_image, render_image};
pub use store::{ProjectRow, record_rollback, upsert_project};
