use std::sync::Arc;

use sqlx::PgPool;

use crate::metrics::HttpMetrics;

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub(crate) metrics: Arc<HttpMetrics>,
}

impl AppState {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            metrics: Arc::new(HttpMetrics::new()),
        }
    }
}
