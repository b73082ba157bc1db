//! Which components the public status page shows: Monitors labelled
//! `javari.ai/status-page=public` (an installation marks them in Git with the Monitor),
//! named by their `javari.ai/status-name` annotation or their own name. Read from the
//! console's watched Monitors, or (until the watch is current) through the Kubernetes API
//! and kept for a few seconds, so the public pages and badges cost no API call per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use javari_crds::Monitor;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use tokio::sync::Mutex;

use super::WatchedKinds;

pub const PUBLIC_LABEL: &str = "javari.ai/status-page";
pub const STATUS_NAME_ANNOTATION: &str = "javari.ai/status-name";

/// The public Monitors, cached for `ttl`.
pub struct PublicComponents {
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<Vec<Monitor>>)>>,
}

impl PublicComponents {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The public Monitors (none without a cluster).
    pub async fn monitors(
        &self,
        client: Option<&Client>,
        watched: Option<&WatchedKinds>,
    ) -> Result<Arc<Vec<Monitor>>, kube::Error> {
        let Some(client) = client else {
            return Ok(Arc::new(Vec::new()));
        };
        if let Some(mut items) = watched.and_then(|w| w.monitors.list_where(is_public)) {
            items.sort_by_key(display_name);
            return Ok(Arc::new(items));
        }
        let mut cached = self.cached.lock().await;
        if let Some((at, list)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(list.clone());
        }
        let mut items = Api::<Monitor>::all(client.clone())
            .list(&ListParams::default().labels(&format!("{PUBLIC_LABEL}=public")))
            .await?
            .items;
        items.sort_by_key(display_name);
        let list = Arc::new(items);
        *cached = Some((Instant::now(), list.clone()));
        Ok(list)
    }
}

/// Whether `m` is marked for the status page.
pub fn is_public(m: &Monitor) -> bool {
    m.labels().get(PUBLIC_LABEL).map(String::as_str) == Some("public")
}

/// What the status page calls a Monitor.
pub fn display_name(m: &Monitor) -> String {
    m.annotations()
        .get(STATUS_NAME_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| m.name_any())
}
