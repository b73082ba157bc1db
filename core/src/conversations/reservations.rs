//! Atomic budgets: an answer reserves its estimated cost before it is billed, under a
//! per-user lock, so concurrent answers cannot together pass the budget. The reservation is
//! replaced by the real cost when the exchange is stored
//! ([`super::record_exchange_settling`]) or released when the answer fails.
//!
//! The rule: an answer is admitted while the user's spending plus what answers in flight
//! hold is below the budget; it then holds its estimate (the prompt plus the answer-token
//! limit at the model's prices) until it is settled.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::budget::{BUDGET_PREFERENCE, BudgetState, billing_period, budget_state};

/// Channel told `user_id` whenever a user's spending or budget changes.
pub const BUDGET_CHANNEL: &str = "javari_budgets";

/// A reservation made (or none needed, for an unlimited user) and the state before it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reservation {
    /// `None` when the user has no budget: nothing is held.
    pub id: Option<Uuid>,
    /// Spending before this answer, against the budget (others' reservations not counted).
    pub state: BudgetState,
}

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Spending plus what answers in flight hold reached the budget.
    #[error(
        "monthly AI budget reached: ${committed:.2} of ${budget:.2} spent or held by answers in progress; ask an admin to raise it"
    )]
    Exceeded { committed: f64, budget: f64 },
    #[error("cannot check the budget: {0}")]
    Db(#[from] sqlx::Error),
}

/// Reserves `estimate_usd` for one answer of `user_id` (budget: their preference, else
/// `default_usd`), held at most `hold` (a crashed console's reservations lapse).
pub async fn reserve_budget(
    pool: &PgPool,
    user_id: Uuid,
    default_usd: Option<f64>,
    estimate_usd: f64,
    hold: Duration,
    now: DateTime<Utc>,
) -> Result<Reservation, ReserveError> {
    let period = billing_period(now);
    let mut tx = crate::db::begin_as(pool, user_id).await?;
    // One user's reservations queue here; other users' do not wait.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('javari_budget:' || $1::text, 0))")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    // A new statement, so a new snapshot: it sees what the lock's previous holder committed.
    let (own, spent, reserved): (Option<f64>, f64, f64) = sqlx::query_as(
        "SELECT
             (SELECT CASE WHEN jsonb_typeof(preferences->$3) = 'number'
                          THEN (preferences->>$3)::float8 END
              FROM javari_user_preferences WHERE user_id = $1),
             (SELECT coalesce(sum(cost_usd), 0)::float8 FROM javari_cost_tracking
              WHERE user_id = $1 AND billing_period = $2),
             (SELECT coalesce(sum(amount_usd), 0)::float8 FROM javari_budget_reservations
              WHERE user_id = $1 AND billing_period = $2 AND expires_at > now())",
    )
    .bind(user_id)
    .bind(&period)
    .bind(BUDGET_PREFERENCE)
    .fetch_one(&mut *tx)
    .await?;
    let Some(budget) = own.or(default_usd) else {
        tx.commit().await?;
        return Ok(Reservation {
            id: None,
            state: BudgetState::Unlimited,
        });
    };
    let committed = spent + reserved;
    if committed >= budget {
        tx.rollback().await?;
        return Err(ReserveError::Exceeded { committed, budget });
    }
    let id = Uuid::new_v4();
    let estimate = if estimate_usd.is_finite() {
        estimate_usd.max(0.0)
    } else {
        0.0
    };
    sqlx::query(
        "INSERT INTO javari_budget_reservations (id, user_id, billing_period, amount_usd, expires_at)
         VALUES ($1, $2, $3, $4::float8::numeric, now() + make_interval(secs => $5))",
    )
    .bind(id)
    .bind(user_id)
    .bind(&period)
    .bind(estimate)
    .bind(hold.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reservation {
        id: Some(id),
        state: budget_state(spent, Some(budget)),
    })
}

/// Gives back `user_id`'s reservation whose answer was not stored.
pub async fn release_reservation(
    pool: &PgPool,
    user_id: Uuid,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    let mut tx = crate::db::begin_as(pool, user_id).await?;
    sqlx::query("DELETE FROM javari_budget_reservations WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
