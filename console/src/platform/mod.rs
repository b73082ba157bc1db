//! The platform as the console sees it: Javari resources and their Events read through the
//! Kubernetes API, the actions the operator honours (written as annotations or spec fields,
//! with who asked), and the public components of the status page.

mod actions;
mod external;
pub(crate) mod public;
mod read;
mod watch;

pub use actions::{Action, ActionError, REQUESTED_BY_ANNOTATION, perform};
pub use external::{MAX_VALUE_BYTES, SetValueError, set_external_value};
pub use public::{PUBLIC_LABEL, PublicComponents, STATUS_NAME_ANNOTATION};
pub use read::{EventView, events, get, list};
pub use watch::{Watched, WatchedKind, WatchedKinds, get_watched, list_watched};
