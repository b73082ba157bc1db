//! Errors of crawled sources. Each message says what was wrong and what to do instead.

use super::address::Refusal;
use super::schedule::ScheduleError;

#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("{0}")]
    Invalid(String),
    #[error("web crawl source not found")]
    NotFound,
    #[error("a crawl of this source is already running")]
    Busy,
    #[error("cannot start the crawler's HTTP client: {0}")]
    Client(String),
    #[error("database error in the web crawler: {0}")]
    Db(#[from] sqlx::Error),
}
