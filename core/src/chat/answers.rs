//! Answers in flight, followable from any console replica.
//!
//! The replica that relays an answer writes its events into an [`AnswerBuffer`] in memory:
//! its own followers read from there, so nothing but the provider stands before the first
//! token. A publisher task copies the events, in batches, into `javari_chat_stream_events`
//! and announces each batch with `NOTIFY javari_chat_streams, '<stream id>'`. Any replica
//! follows an answer it does not hold from that table: it replays what was written, then
//! reads again at each notification (and at a short poll, in case one was missed while its
//! listener reconnected). Once every event is written the buffer leaves the registry; the
//! followers still reading it hold the last references, so the answer's memory is released
//! when it is stored and read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::Stream;
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use super::events::ChatEvent;

/// Channel told `<stream id>` when events of that answer were written.
pub const STREAM_CHANNEL: &str = "javari_chat_streams";
/// Events written per statement at most.
const BATCH: usize = 256;
/// Answers writing events at the same time, per console (a share of its connection pool).
const WRITERS: usize = 4;
/// Finished answers between two prunings of old ones.
const PRUNE_EVERY: u64 = 32;
/// How long finished answers stay replayable from the database.
const KEEP_FINISHED_SECS: f64 = 600.0;

#[derive(Default)]
struct Events {
    items: Vec<Arc<ChatEvent>>,
    done: bool,
}

/// The events of one answer as its relay produces them.
pub struct AnswerBuffer {
    pub owner: Uuid,
    pub conversation_id: Uuid,
    events: Mutex<Events>,
    notify: Notify,
}

impl AnswerBuffer {
    fn new(owner: Uuid, conversation_id: Uuid) -> Self {
        Self {
            owner,
            conversation_id,
            events: Mutex::default(),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Events> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an event; a final one (`complete`/`error`) also ends the answer.
    pub fn push(&self, event: ChatEvent) {
        {
            let mut events = self.lock();
            if events.done {
                return;
            }
            events.done = event.is_final();
            events.items.push(Arc::new(event));
        }
        self.notify.notify_waiters();
    }

    pub fn is_finished(&self) -> bool {
        self.lock().done
    }

    /// The answer's text so far: its tokens joined (the only copy is the events).
    pub fn text(&self) -> String {
        let events = self.lock();
        let mut text = String::new();
        for event in &events.items {
            if let ChatEvent::Token(t) = &**event {
                text.push_str(&t.token);
            }
        }
        text
    }

    /// Events from `cursor` on (at most `max`), waiting for one; empty once the answer is done.
    async fn after(&self, cursor: usize, max: usize) -> Vec<Arc<ChatEvent>> {
        loop {
            // Registered before looking, so a push between the look and the wait is not lost.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let events = self.lock();
                if cursor < events.items.len() {
                    let end = events.items.len().min(cursor + max);
                    return events.items[cursor..end].to_vec();
                }
                if events.done {
                    return Vec::new();
                }
            }
            notified.await;
        }
    }

    /// Every event from the first, then new ones as they come, until the answer is done.
    pub fn subscribe(self: Arc<Self>) -> impl Stream<Item = Arc<ChatEvent>> + Send + 'static {
        futures::stream::unfold((self, 0usize), |(buffer, cursor)| async move {
            let item = buffer.after(cursor, 1).await.pop()?;
            Some((item, (buffer, cursor + 1)))
        })
    }

    /// Waits until the answer is done; returns its last event.
    pub async fn wait(self: Arc<Self>) -> Option<Arc<ChatEvent>> {
        self.subscribe().collect::<Vec<_>>().await.pop()
    }
}

/// Following an answer failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("no such answer stream (or it belongs to another user)")]
    NotFound,
    #[error("database error while following an answer: {0}")]
    Db(#[from] sqlx::Error),
}

/// The answers of this replica, and the followers of others' answers.
#[derive(Clone)]
pub struct AnswerHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    db: PgPool,
    local: Mutex<HashMap<Uuid, Arc<AnswerBuffer>>>,
    waiters: Mutex<HashMap<Uuid, Weak<Notify>>>,
    /// Longest wait for a stream's row to appear, and for the next event of a followed answer.
    appear_timeout: Duration,
    follow_idle_timeout: Duration,
    poll: Duration,
    /// Answers writing their events at once.
    writers: tokio::sync::Semaphore,
    /// Answers published, to prune old ones every [`PRUNE_EVERY`].
    finished: std::sync::atomic::AtomicU64,
}

impl AnswerHub {
    /// `follow_idle_timeout`: a followed answer with no new event for this long ends with an
    /// error event (its relay's replica stopped).
    pub fn new(db: PgPool, follow_idle_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(HubInner {
                db,
                local: Mutex::default(),
                waiters: Mutex::default(),
                appear_timeout: Duration::from_secs(5),
                follow_idle_timeout,
                poll: Duration::from_secs(1),
                writers: tokio::sync::Semaphore::new(WRITERS),
                finished: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Starts an answer: its buffer, registered here and published to the database.
    pub fn open(&self, owner: Uuid, conversation_id: Uuid) -> (Uuid, Arc<AnswerBuffer>) {
        let id = Uuid::new_v4();
        let buffer = Arc::new(AnswerBuffer::new(owner, conversation_id));
        self.inner
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, buffer.clone());
        let hub = self.clone();
        let published = buffer.clone();
        tokio::spawn(async move {
            hub.publish(id, published).await;
            hub.inner
                .local
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        });
        (id, buffer)
    }

    /// Answers held in this replica's memory.
    pub fn held(&self) -> usize {
        self.inner
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Copies the buffer's events into the database as they come.
    async fn publish(&self, id: Uuid, buffer: Arc<AnswerBuffer>) {
        let db = &self.inner.db;
        let mut cursor = 0usize;
        let mut created = false;
        let mut failures = 0u32;
        loop {
            if buffer.after(cursor, BATCH).await.is_empty() {
                break;
            }
            // A bounded number of answers write at once; the others' events pile into
            // bigger batches meanwhile instead of into more statements.
            let Ok(_writing) = self.inner.writers.acquire().await else {
                return;
            };
            let batch = buffer.after(cursor, BATCH).await;
            let result = async {
                let mut tx = crate::db::begin_as(db, buffer.owner).await?;
                if !created {
                    sqlx::query(
                        "INSERT INTO javari_chat_streams (id, user_id, conversation_id)
                         VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(buffer.owner)
                    .bind(buffer.conversation_id)
                    .execute(&mut *tx)
                    .await?;
                }
                let seqs: Vec<i32> = (cursor..cursor + batch.len())
                    .map(|s| i32::try_from(s).unwrap_or(i32::MAX))
                    .collect();
                let events: Vec<String> = batch
                    .iter()
                    .map(|e| serde_json::to_string(&**e).unwrap_or_default())
                    .collect();
                let last_is_final = batch.last().is_some_and(|e| e.is_final());
                sqlx::query(
                    "WITH written AS (
                         INSERT INTO javari_chat_stream_events (stream_id, seq, event)
                         SELECT $1, s, e FROM unnest($2::int4[], $3::text[]) AS t(s, e)
                         ON CONFLICT DO NOTHING
                     ), finished AS (
                         UPDATE javari_chat_streams SET finished_at = now()
                         WHERE id = $1 AND $4
                     )
                     SELECT pg_notify($5, $1::text)",
                )
                .bind(id)
                .bind(&seqs)
                .bind(&events)
                .bind(last_is_final)
                .bind(STREAM_CHANNEL)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(())
            }
            .await;
            match result {
                Ok(()) => {
                    created = true;
                    cursor += batch.len();
                    failures = 0;
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(stream = %id, %error, "publishing answer events failed");
                    if failures >= 5 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failures))).await;
                }
            }
        }
        // Old answers leave now and then, with a finished one (indexed, usually nothing).
        let finished = self
            .inner
            .finished
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !finished.is_multiple_of(PRUNE_EVERY) {
            return;
        }
        // Every user's old answers: through the owner's function (no user is acting here).
        if let Err(error) = sqlx::query("SELECT javari_prune_chat_streams($1)")
            .bind(KEEP_FINISHED_SECS)
            .execute(db)
            .await
        {
            tracing::warn!(%error, "pruning old answer streams failed");
        }
    }

    /// A notification for stream `id` arrived.
    pub fn notified(&self, id: Uuid) {
        let mut waiters = self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
        match waiters.get(&id).and_then(Weak::upgrade) {
            Some(notify) => notify.notify_waiters(),
            None => {
                waiters.remove(&id);
            }
        }
    }

    /// The listener reconnected: notifications may have been missed.
    pub fn notify_all(&self) {
        let mut waiters = self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.retain(|_, w| match w.upgrade() {
            Some(notify) => {
                notify.notify_waiters();
                true
            }
            None => false,
        });
    }

    fn waiter(&self, id: Uuid) -> Arc<Notify> {
        let mut waiters = self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = waiters.get(&id).and_then(Weak::upgrade) {
            return notify;
        }
        let notify = Arc::new(Notify::new());
        waiters.insert(id, Arc::downgrade(&notify));
        notify
    }

    /// The answer `id` of `user`, from its first event to its last: from memory when this
    /// replica relays it, else from the database.
    pub async fn follow(
        &self,
        id: Uuid,
        user: Uuid,
    ) -> Result<BoxStream<'static, Arc<ChatEvent>>, FollowError> {
        let local = self
            .inner
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        if let Some(buffer) = local {
            if buffer.owner != user {
                return Err(FollowError::NotFound);
            }
            return Ok(buffer.subscribe().boxed());
        }
        let notify = self.waiter(id);
        let deadline = tokio::time::Instant::now() + self.inner.appear_timeout;
        let owner = loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Only the owner's id, so someone else's answer is refused at once.
            let owner: Option<Uuid> = sqlx::query_scalar("SELECT javari_chat_stream_owner($1)")
                .bind(id)
                .fetch_one(&self.inner.db)
                .await?;
            if let Some(owner) = owner {
                break owner;
            }
            // Started on another replica a moment ago: its first batch may not be written yet.
            let wait = self
                .inner
                .poll
                .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            if tokio::time::timeout(wait, notified).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return Err(FollowError::NotFound);
            }
        };
        if owner != user {
            return Err(FollowError::NotFound);
        }
        let state = Follower {
            hub: self.clone(),
            id,
            user,
            notify,
            cursor: 0,
            queue: std::collections::VecDeque::new(),
            done: false,
            idle_since: tokio::time::Instant::now(),
        };
        Ok(futures::stream::unfold(state, Follower::next).boxed())
    }
}

/// Reads a remote answer's events from the database.
struct Follower {
    hub: AnswerHub,
    id: Uuid,
    /// The owner, as whom the events are read.
    user: Uuid,
    notify: Arc<Notify>,
    cursor: i32,
    queue: std::collections::VecDeque<Arc<ChatEvent>>,
    done: bool,
    idle_since: tokio::time::Instant,
}

impl Follower {
    async fn next(mut self) -> Option<(Arc<ChatEvent>, Self)> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                self.done = event.is_final();
                return Some((event, self));
            }
            if self.done {
                return None;
            }
            let notify = self.notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let rows: Result<Vec<(i32, String)>, sqlx::Error> = async {
                let mut tx = crate::db::begin_as(&self.hub.inner.db, self.user).await?;
                let rows = sqlx::query_as(
                    "SELECT seq, event FROM javari_chat_stream_events
                     WHERE stream_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                )
                .bind(self.id)
                .bind(self.cursor)
                .bind(BATCH as i64)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(rows)
            }
            .await;
            let rows = match rows {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(stream = %self.id, %error, "reading answer events failed");
                    self.done = true;
                    let event = ChatEvent::failure(
                        "following the answer failed; it is saved in the conversation",
                    );
                    return Some((Arc::new(event), self));
                }
            };
            if !rows.is_empty() {
                self.idle_since = tokio::time::Instant::now();
            }
            for (seq, text) in rows {
                self.cursor = seq + 1;
                match serde_json::from_str::<ChatEvent>(&text) {
                    Ok(event) => self.queue.push_back(Arc::new(event)),
                    Err(error) => {
                        tracing::warn!(stream = %self.id, %error, "an answer event is not readable")
                    }
                }
            }
            if !self.queue.is_empty() {
                continue;
            }
            if self.idle_since.elapsed() >= self.hub.inner.follow_idle_timeout {
                self.done = true;
                let event = ChatEvent::failure(
                    "the answer stopped arriving; what was stored is in the conversation",
                );
                return Some((Arc::new(event), self));
            }
            let _ = tokio::time::timeout(self.hub.inner.poll, notified).await;
        }
    }
}
