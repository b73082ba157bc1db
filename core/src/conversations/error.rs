//! Errors of the conversations module.

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    /// The conversation (or parent conversation) does not exist or belongs to another user.
    #[error("conversation not found (or it belongs to another user)")]
    NotFound,
    #[error(
        "invalid conversation status {0:?}: use one of active, archived, deleted, paused, completed"
    )]
    InvalidStatus(String),
    #[error("project {0} does not exist")]
    UnknownProject(Uuid),
    #[error("invalid monthly budget {0}: it must be a finite amount of USD, zero or more")]
    InvalidBudget(f64),
    #[error("conversation title must not be empty")]
    EmptyTitle,
    #[error("database error in conversations: {0}")]
    Db(#[from] sqlx::Error),
}

/// True when `err` is a foreign-key violation (SQLSTATE 23503).
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "23503")
}
