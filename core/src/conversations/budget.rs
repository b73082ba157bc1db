//! Monthly spending and budgets: what a user spent this billing period, their budget (a
//! preference overriding the platform default) and the state that follows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::ConversationError;
use crate::db::begin_as;

/// Key of the monthly budget (USD, a JSON number) in `javari_user_preferences.preferences`.
pub const BUDGET_PREFERENCE: &str = "monthlyBudgetUsd";
/// Share of the budget from which spending is flagged.
const WARNING_RATIO: f64 = 0.8;

/// The billing period of `now`: "YYYY-MM" (UTC), as in `javari_cost_tracking.billing_period`.
pub fn billing_period(now: DateTime<Utc>) -> String {
    now.format("%Y-%m").to_string()
}

/// Sum of the user's cost rows in `now`'s billing period, in USD.
pub async fn month_spend(
    pool: &PgPool,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<f64, ConversationError> {
    let mut tx = begin_as(pool, user_id).await?;
    let spent = sqlx::query_scalar(
        "SELECT coalesce(sum(cost_usd), 0)::float8 FROM javari_cost_tracking
         WHERE user_id = $1 AND billing_period = $2",
    )
    .bind(user_id)
    .bind(billing_period(now))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(spent)
}

/// The user's monthly budget: their `monthlyBudgetUsd` preference when set (a number),
/// otherwise `default_usd`. `None`: unlimited.
pub async fn monthly_budget(
    pool: &PgPool,
    user_id: Uuid,
    default_usd: Option<f64>,
) -> Result<Option<f64>, ConversationError> {
    let mut tx = begin_as(pool, user_id).await?;
    let own: Option<Option<f64>> = sqlx::query_scalar(
        "SELECT CASE WHEN jsonb_typeof(preferences->$2) = 'number'
                     THEN (preferences->>$2)::float8 END
         FROM javari_user_preferences WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(BUDGET_PREFERENCE)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(own.flatten().or(default_usd))
}

/// Sets the user's monthly budget preference; `None` removes it, so the default applies.
pub async fn set_monthly_budget(
    pool: &PgPool,
    user_id: Uuid,
    budget_usd: Option<f64>,
) -> Result<(), ConversationError> {
    if let Some(b) = budget_usd
        && (!b.is_finite() || b < 0.0)
    {
        return Err(ConversationError::InvalidBudget(b));
    }
    let mut tx = begin_as(pool, user_id).await?;
    match budget_usd {
        Some(b) => {
            sqlx::query(
                "INSERT INTO javari_user_preferences (user_id, preferences)
                 VALUES ($1, jsonb_build_object($2::text, $3::float8))
                 ON CONFLICT (user_id) DO UPDATE
                 SET preferences = javari_user_preferences.preferences || EXCLUDED.preferences",
            )
            .bind(user_id)
            .bind(BUDGET_PREFERENCE)
            .bind(b)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query(
                "UPDATE javari_user_preferences SET preferences = preferences - $2::text
                 WHERE user_id = $1",
            )
            .bind(user_id)
            .bind(BUDGET_PREFERENCE)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Where spending stands against the budget.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BudgetState {
    /// No budget set.
    Unlimited,
    /// Under 80% of the budget.
    Ok { spent: f64, budget: f64 },
    /// At least 80% of the budget.
    Warning { spent: f64, budget: f64 },
    /// At least the whole budget.
    Exceeded { spent: f64, budget: f64 },
}

/// The state of `spent` against `budget` (a zero budget is exceeded from the start).
pub fn budget_state(spent: f64, budget: Option<f64>) -> BudgetState {
    let Some(budget) = budget else {
        return BudgetState::Unlimited;
    };
    if spent >= budget {
        BudgetState::Exceeded { spent, budget }
    } else if spent >= budget * WARNING_RATIO {
        BudgetState::Warning { spent, budget }
    } else {
        BudgetState::Ok { spent, budget }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn states_follow_the_thresholds() {
        assert_eq!(budget_state(5.0, None), BudgetState::Unlimited);
        assert!(matches!(
            budget_state(0.0, Some(10.0)),
            BudgetState::Ok { .. }
        ));
        assert!(matches!(
            budget_state(7.99, Some(10.0)),
            BudgetState::Ok { .. }
        ));
        assert!(matches!(
            budget_state(8.0, Some(10.0)),
            BudgetState::Warning { .. }
        ));
        assert_eq!(
            budget_state(10.0, Some(10.0)),
            BudgetState::Exceeded {
                spent: 10.0,
                budget: 10.0
            }
        );
        assert!(matches!(
            budget_state(0.0, Some(0.0)),
            BudgetState::Exceeded { .. }
        ));
    }

    #[test]
    fn billing_period_is_year_and_month() {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 31, 23, 59, 59)
            .single()
            .expect("valid time");
        assert_eq!(billing_period(t), "2026-03");
    }

    #[test]
    fn state_serialises_with_a_tag() {
        let json = serde_json::to_value(budget_state(9.0, Some(10.0))).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"state": "warning", "spent": 9.0, "budget": 10.0})
        );
    }
}
