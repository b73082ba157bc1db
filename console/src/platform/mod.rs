//! The platform as the console sees it: Javari resources and their Events read through the
//! Kubernetes API, the actions the operator honours (written as annotations or spec fields,
//! with who asked), and the public components of the status page.

mod actions;
pub(crate) mod public;
mod read;

pub use actions::{Action, ActionError, REQUESTED_BY_ANNOTATION, perform};
pub use public::{PUBLIC_LABEL, PublicComponents, STATUS_NAME_ANNOTATION};
pub use read::{EventView, events, get, list};
