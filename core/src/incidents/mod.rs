//! Incidents: a validated lifecycle with response targets, roles, notes, merges and an
//! append-only timeline. Monitors open and resolve theirs through `monitors::store`; people
//! declare and work them through here.

mod lifecycle;
mod store;

pub use lifecycle::{
    IncidentStatus, Mover, OPEN_STATUSES_SQL, TransitionError, open_statuses, respond_by,
    response_target,
};
pub use store::{
    Declaration, EventKind, Incident, IncidentError, Role, TimelineEvent, acknowledge, assign,
    declare, get, merge, note, timeline, transition,
};
