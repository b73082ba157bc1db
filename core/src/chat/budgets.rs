//! Each replica's memory of its users' budgets: what is known to be spent against what
//! budget, so an exhausted budget is refused without a database round trip and without
//! calling a provider. The database stays the judge ([`reserve_budget`], run alongside the
//! provider request); this memory is refreshed by every reservation and settlement, and
//! forgotten when `javari_budgets` announces a change made elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::conversations::{
    BudgetState, Reservation, ReserveError, billing_period, release_reservation, reserve_budget,
};

#[derive(Clone, Debug)]
struct Known {
    period: String,
    spent: f64,
    budget: Option<f64>,
}

#[derive(Clone)]
pub struct BudgetBook {
    db: PgPool,
    default_usd: Option<f64>,
    /// How long a reservation holds at most (longer than any answer may last).
    hold: Duration,
    known: Arc<Mutex<HashMap<Uuid, Known>>>,
}

impl BudgetBook {
    pub fn new(db: PgPool, default_usd: Option<f64>, hold: Duration) -> Self {
        Self {
            db,
            default_usd,
            hold,
            known: Arc::default(),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `(spent, budget)` when this replica knows the user's budget is used up this month.
    pub fn known_exceeded(&self, user: Uuid) -> Option<(f64, f64)> {
        let period = billing_period(Utc::now());
        let known = self.known();
        let k = known.get(&user).filter(|k| k.period == period)?;
        let budget = k.budget?;
        (k.spent >= budget).then_some((k.spent, budget))
    }

    /// Reserves `estimate_usd` in the database and remembers what it saw. A user known to
    /// have no budget needs no reservation (a budget set later is announced and forgotten).
    pub async fn reserve(
        &self,
        user: Uuid,
        estimate_usd: f64,
    ) -> Result<Reservation, ReserveError> {
        let now = Utc::now();
        let unlimited = self
            .known()
            .get(&user)
            .is_some_and(|k| k.budget.is_none() && k.period == billing_period(now));
        if unlimited {
            return Ok(Reservation {
                id: None,
                state: BudgetState::Unlimited,
            });
        }
        let result = reserve_budget(
            &self.db,
            user,
            self.default_usd,
            estimate_usd,
            self.hold,
            now,
        )
        .await;
        let seen = match &result {
            Ok(Reservation {
                state:
                    BudgetState::Ok { spent, budget }
                    | BudgetState::Warning { spent, budget }
                    | BudgetState::Exceeded { spent, budget },
                ..
            }) => Some((*spent, Some(*budget))),
            Ok(Reservation {
                state: BudgetState::Unlimited,
                ..
            }) => Some((0.0, None)),
            Err(_) => None,
        };
        if let Some((spent, budget)) = seen {
            self.known().insert(
                user,
                Known {
                    period: billing_period(now),
                    spent,
                    budget,
                },
            );
        }
        result
    }

    /// The answer was stored at `cost_usd` (its reservation settled with it).
    pub fn settled(&self, user: Uuid, cost_usd: f64) {
        let period = billing_period(Utc::now());
        if let Some(k) = self.known().get_mut(&user).filter(|k| k.period == period) {
            k.spent += cost_usd;
        }
    }

    /// Gives back a reservation whose answer was not stored (in the background).
    pub fn release(&self, user: Uuid, reservation: Option<Uuid>) {
        let Some(id) = reservation else { return };
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(error) = release_reservation(&db, user, id).await {
                tracing::warn!(%error, "releasing a budget reservation failed; it lapses on its own");
            }
        });
    }

    /// Another replica changed `user`'s spending or budget.
    pub fn forget(&self, user: Uuid) {
        self.known().remove(&user);
    }

    /// Notifications may have been missed.
    pub fn forget_all(&self) {
        self.known().clear();
    }
}
