//! Javari resources kept in memory by watching the API (a reflector per kind), so lists and
//! the overview need no API round trip (1,000 Monitors are ~2 MB of JSON to fetch and parse
//! on every page view otherwise) and are never cut at a page of results. Until a watch has
//! its first complete list, and while it is failing, readers go to the API instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use javari_crds::{Credential, Monitor, Project, Provider};
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

/// One kind's store and whether it is current.
pub struct Watched<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    current: Arc<AtomicBool>,
}

impl<K> Watched<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    fn start(client: &Client, runtime: &tokio::runtime::Handle) -> Self {
        let writer = reflector::store::Writer::<K>::default();
        let store = writer.as_reader();
        let current = Arc::new(AtomicBool::new(false));
        let flag = current.clone();
        let stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .modify(|obj: &mut K| {
                obj.meta_mut().managed_fields = None;
            });
        runtime.spawn(async move {
            let mut events = std::pin::pin!(reflector(writer, stream));
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::InitDone) => flag.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(e) => {
                        flag.store(false, Ordering::SeqCst);
                        tracing::warn!(kind = %K::kind(&()), error = %e, "watch interrupted; reading from the API until it resumes");
                    }
                }
            }
        });
        Self { store, current }
    }

    /// Every object in `namespace` (all with `None`), sorted by namespace and name; `None`
    /// while the watch is not current.
    pub fn list(&self, namespace: Option<&str>) -> Option<Vec<K>> {
        self.list_where(|k| namespace.is_none_or(|ns| k.meta().namespace.as_deref() == Some(ns)))
    }

    /// Every object `keep` keeps (tested before it is copied), sorted by namespace and name;
    /// `None` while the watch is not current.
    pub fn list_where(&self, keep: impl Fn(&K) -> bool) -> Option<Vec<K>> {
        if !self.current.load(Ordering::SeqCst) {
            return None;
        }
        let mut items: Vec<K> = self
            .store
            .state()
            .into_iter()
            .filter(|k| keep(k))
            .map(|k| (*k).clone())
            .collect();
        items.sort_by(|a, b| {
            (a.meta().namespace.as_deref(), a.meta().name.as_deref())
                .cmp(&(b.meta().namespace.as_deref(), b.meta().name.as_deref()))
        });
        Some(items)
    }

    /// `namespace/name` from memory: `None` while the watch is not current or when the store
    /// does not hold it (yet: a just-created object), so the caller asks the API.
    pub fn get(&self, namespace: &str, name: &str) -> Option<K> {
        if !self.current.load(Ordering::SeqCst) {
            return None;
        }
        self.store
            .get(&ObjectRef::new(name).within(namespace))
            .map(|k| (*k).clone())
    }
}

/// The kinds the overview, the list and the detail pages read.
pub struct WatchedKinds {
    pub monitors: Watched<Monitor>,
    pub projects: Watched<Project>,
    pub credentials: Watched<Credential>,
    pub providers: Watched<Provider>,
}

impl WatchedKinds {
    /// Starts the watches on the current tokio runtime; `None` outside one.
    pub fn start(client: &Client) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(Self {
            monitors: Watched::start(client, &runtime),
            projects: Watched::start(client, &runtime),
            credentials: Watched::start(client, &runtime),
            providers: Watched::start(client, &runtime),
        })
    }
}

/// A namespaced Javari kind the console watches, with the bounds every reader of a store
/// needs, and which store holds it.
pub trait WatchedKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn watched(kinds: &WatchedKinds) -> Option<&Watched<Self>>;
}

impl WatchedKind for Monitor {
    fn watched(kinds: &WatchedKinds) -> Option<&Watched<Self>> {
        Some(&kinds.monitors)
    }
}

impl WatchedKind for Project {
    fn watched(kinds: &WatchedKinds) -> Option<&Watched<Self>> {
        Some(&kinds.projects)
    }
}

impl WatchedKind for Credential {
    fn watched(kinds: &WatchedKinds) -> Option<&Watched<Self>> {
        Some(&kinds.credentials)
    }
}

impl WatchedKind for Provider {
    fn watched(kinds: &WatchedKinds) -> Option<&Watched<Self>> {
        Some(&kinds.providers)
    }
}

/// Every `K` in `namespace` (all with `None`): from memory when its watch is current, else
/// from the API.
pub async fn list_watched<K>(
    kinds: Option<&WatchedKinds>,
    client: &Client,
    namespace: Option<&str>,
) -> Result<Vec<K>, kube::Error>
where
    K: WatchedKind,
{
    if let Some(items) = kinds.and_then(K::watched).and_then(|w| w.list(namespace)) {
        return Ok(items);
    }
    super::list(client, namespace).await
}

/// `namespace/name`: from memory when its watch is current and holds it, else from the API.
pub async fn get_watched<K>(
    kinds: Option<&WatchedKinds>,
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<K>, kube::Error>
where
    K: WatchedKind,
{
    if let Some(item) = kinds
        .and_then(K::watched)
        .and_then(|w| w.get(namespace, name))
    {
        return Ok(Some(item));
    }
    super::get(client, namespace, name).await
}
