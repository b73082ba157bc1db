//! Wake-ups at exact times (next rotation, end of a grace period) through
//! tokio-cron-scheduler one-shot jobs. The times themselves come from persisted state, so
//! after a restart the first reconcile of each object schedules them again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::channel::mpsc;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use uuid::Uuid;

/// When an object is due and the scheduler job that will say so.
type Scheduled = (DateTime<Utc>, Uuid);

/// Sends an object's reference into its controller's `reconcile_on` stream when due.
pub struct Timer<K: kube::Resource<DynamicType = ()> + 'static> {
    scheduler: JobScheduler,
    jobs: Mutex<HashMap<ObjectRef<K>, Scheduled>>,
    tx: mpsc::UnboundedSender<ObjectRef<K>>,
}

impl<K: kube::Resource<DynamicType = ()> + Send + Sync + 'static> Timer<K> {
    pub async fn start()
    -> Result<(Arc<Self>, mpsc::UnboundedReceiver<ObjectRef<K>>), JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        scheduler.start().await?;
        let (tx, rx) = mpsc::unbounded();
        Ok((
            Arc::new(Self {
                scheduler,
                jobs: Mutex::new(HashMap::new()),
                tx,
            }),
            rx,
        ))
    }

    /// Wakes `object` at `at` (replacing an earlier wake-up of it). Idempotent for the same time.
    pub async fn wake_at(
        &self,
        object: ObjectRef<K>,
        at: DateTime<Utc>,
    ) -> Result<(), JobSchedulerError> {
        let mut jobs = self.jobs.lock().await;
        if jobs.get(&object).is_some_and(|(when, _)| *when == at) {
            return Ok(());
        }
        if let Some((_, old)) = jobs.remove(&object) {
            let _ = self.scheduler.remove(&old).await;
        }
        let delay = (at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_secs(1));
        let tx = self.tx.clone();
        let target = object.clone();
        let job = Job::new_one_shot_async(delay, move |_, _| {
            let tx = tx.clone();
            let target = target.clone();
            Box::pin(async move {
                let _ = tx.unbounded_send(target);
            })
        })?;
        let id = self.scheduler.add(job).await?;
        jobs.insert(object, (at, id));
        Ok(())
    }

    /// Forgets `object` (it was deleted).
    pub async fn cancel(&self, object: &ObjectRef<K>) {
        if let Some((_, id)) = self.jobs.lock().await.remove(object) {
            let _ = self.scheduler.remove(&id).await;
        }
    }
}
