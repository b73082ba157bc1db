//! Incidents: a validated lifecycle with response targets, roles, notes, merges and an
//! append-only timeline. Monitors open and resolve theirs through `monitors::store`; people
//! declare and work them through here.

mod lifecycle;
mod notify;
mod postmortem;
mod review;
mod store;

pub use lifecycle::{
    IncidentStatus, Mover, OPEN_STATUSES_SQL, TransitionError, open_statuses, respond_by,
    response_target,
};
pub use notify::{Notice, Webhook, notify};
pub use postmortem::{ActionItem, Durations, Impact, draft, durations, human};
pub use review::{
    MAX_POSTMORTEM_BYTES, action_items, add_action_item, impact, last_change_before, postmortem,
    save_postmortem, set_action_item_done,
};
pub use store::{
    Declaration, EventKind, Incident, IncidentError, Role, TimelineEvent, acknowledge, assign,
    declare, get, list, merge, note, record, set_severity, timeline, transition,
};
