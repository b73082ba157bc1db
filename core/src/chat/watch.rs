//! One PostgreSQL listener per console keeps its in-memory copies current: answers written
//! by other replicas (`javari_chat_streams`), budgets changed elsewhere (`javari_budgets`)
//! and Providers changed by the operator (`javari_providers`).

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::answers::{AnswerHub, STREAM_CHANNEL};
use super::budgets::BudgetBook;
use super::directory::ProviderDirectory;
use crate::conversations::BUDGET_CHANNEL;

/// Channel told whenever a Provider or one of its models changes (a trigger sends it).
pub const PROVIDERS_CHANNEL: &str = "javari_providers";

/// What the listener keeps current.
pub(crate) struct Watched {
    pub hub: AnswerHub,
    pub budgets: BudgetBook,
    pub directory: Arc<ProviderDirectory>,
    /// This console's id: its own budget notifications are already applied.
    pub origin: Uuid,
}

/// Runs until the pool is closed.
pub(crate) async fn watch(db: PgPool, watched: Watched) {
    // Before the first LISTEN nothing is remembered yet, so nothing can have been missed.
    let mut listened = false;
    loop {
        if db.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for notifications; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener
            .listen_all([STREAM_CHANNEL, BUDGET_CHANNEL, PROVIDERS_CHANNEL])
            .await
        {
            tracing::warn!(%error, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            // Whatever was sent while not listening is unknown: assume everything changed.
            if listened {
                caught_up(&watched).await;
            }
            listened = true;
            let lost = loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => dispatch(&watched, n.channel(), n.payload()).await,
                    Ok(None) => break false,
                    Err(error) => {
                        tracing::warn!(%error, "notification listener failed");
                        break true;
                    }
                }
            };
            if lost || db.is_closed() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn caught_up(watched: &Watched) {
    watched.hub.notify_all();
    watched.budgets.forget_all();
    if let Err(error) = watched.directory.refresh().await {
        tracing::warn!(%error, "reloading the providers failed");
    }
}

async fn dispatch(watched: &Watched, channel: &str, payload: &str) {
    match channel {
        STREAM_CHANNEL => {
            if let Ok(id) = payload.parse::<Uuid>() {
                watched.hub.notified(id);
            }
        }
        BUDGET_CHANNEL => {
            let (user, origin) = payload.split_once('/').unwrap_or((payload, ""));
            if origin == watched.origin.to_string() {
                return;
            }
            if let Ok(user) = user.parse::<Uuid>() {
                watched.budgets.forget(user);
            }
        }
        PROVIDERS_CHANNEL => {
            if let Err(error) = watched.directory.refresh().await {
                tracing::warn!(%error, "reloading the providers failed");
            }
        }
        _ => {}
    }
}
