//! Answers in flight. The provider stream is driven by a task of its own that writes every
//! event into a buffer here, so an answer is finished and stored even when the browser goes
//! away, and a late subscriber (the page's EventSource) replays it from the start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use tokio::sync::Notify;
use uuid::Uuid;

/// How long a finished answer stays replayable.
const KEEP_FINISHED: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Events {
    items: Vec<Arc<str>>,
    done: bool,
}

/// The events of one answer, each a JSON object in the seeds' shape.
pub struct StreamBuffer {
    pub owner: Uuid,
    pub conversation_id: Uuid,
    events: Mutex<Events>,
    notify: Notify,
}

impl StreamBuffer {
    pub fn push(&self, json: String) {
        self.lock().items.push(json.into());
        self.notify.notify_waiters();
    }

    pub fn finish(&self) {
        self.lock().done = true;
        self.notify.notify_waiters();
    }

    pub fn is_finished(&self) -> bool {
        self.lock().done
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Events> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every event from the first, then new ones as they come, until the answer is done.
    pub fn subscribe(self: Arc<Self>) -> impl Stream<Item = Arc<str>> + Send + 'static {
        futures::stream::unfold((self, 0usize), |(buffer, cursor)| async move {
            let item = buffer.next_after(cursor).await?;
            Some((item, (buffer, cursor + 1)))
        })
    }

    /// The event at `cursor`, waiting for it; `None` once the answer is done.
    async fn next_after(&self, cursor: usize) -> Option<Arc<str>> {
        loop {
            // Registered before looking, so a push between the look and the wait is not lost.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let events = self.lock();
                if let Some(item) = events.items.get(cursor) {
                    return Some(item.clone());
                }
                if events.done {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Waits until the answer is done; returns its events.
    pub async fn wait(self: Arc<Self>) -> Vec<Arc<str>> {
        use futures::StreamExt;
        self.subscribe().collect().await
    }
}

/// The registry of answers by stream id.
#[derive(Clone, Default)]
pub struct ChatStreams {
    inner: Arc<Mutex<HashMap<Uuid, Arc<StreamBuffer>>>>,
}

impl ChatStreams {
    pub fn open(&self, owner: Uuid, conversation_id: Uuid) -> (Uuid, Arc<StreamBuffer>) {
        let id = Uuid::new_v4();
        let buffer = Arc::new(StreamBuffer {
            owner,
            conversation_id,
            events: Mutex::default(),
            notify: Notify::new(),
        });
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, buffer.clone());
        (id, buffer)
    }

    /// The stream `id` if `user` owns it.
    pub fn get(&self, id: Uuid, user: Uuid) -> Option<Arc<StreamBuffer>> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .filter(|b| b.owner == user)
            .cloned()
    }

    /// Forgets `id` a while after its answer finished.
    pub fn expire_later(&self, id: Uuid) {
        let streams = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(KEEP_FINISHED).await;
            streams
                .inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        });
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn late_subscribers_replay_and_live_ones_follow() {
        let streams = ChatStreams::default();
        let owner = Uuid::new_v4();
        let (id, buffer) = streams.open(owner, Uuid::new_v4());
        buffer.push("a".into());
        let mut live = buffer.clone().subscribe().boxed();
        assert_eq!(live.next().await.as_deref(), Some("a"));
        let pusher = buffer.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            pusher.push("b".into());
            pusher.finish();
        });
        assert_eq!(live.next().await.as_deref(), Some("b"));
        assert_eq!(live.next().await, None);
        let replay: Vec<_> = buffer.clone().wait().await;
        assert_eq!(replay.len(), 2);
        assert!(streams.get(id, owner).is_some());
        assert!(streams.get(id, Uuid::new_v4()).is_none(), "only its owner");
    }
}
