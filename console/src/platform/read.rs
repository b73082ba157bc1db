//! Reading resources and Events.

use chrono::{DateTime, Utc};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

/// Resources asked for per API request when a list reads from the API (the watch is not
/// current yet); the list follows the continue token until it is whole.
pub const LIST_CHUNK: u32 = 500;
/// Resources read from the API per kind at most (a bound on the console's memory when a
/// watch is down; the watched store has no such cut).
pub const LIST_MAX: usize = 50_000;
/// Events shown with a resource.
pub const EVENTS_SHOWN: usize = 20;

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Every `K` in `namespace` (all namespaces when `None`), sorted by namespace and name.
pub async fn list<K>(client: &Client, namespace: Option<&str>) -> Result<Vec<K>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api = api::<K>(client, namespace);
    let mut items = Vec::new();
    let mut params = ListParams::default().limit(LIST_CHUNK);
    loop {
        let chunk = api.list(&params).await?;
        items.extend(chunk.items);
        match chunk.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) if items.len() < LIST_MAX => params = params.continue_token(&token),
            Some(_) => {
                tracing::warn!(kind = %K::kind(&Default::default()), shown = items.len(), "list cut at LIST_MAX while reading from the API");
                break;
            }
            None => break,
        }
    }
    items.sort_by(|a, b| {
        (a.meta().namespace.as_deref(), a.meta().name.as_deref())
            .cmp(&(b.meta().namespace.as_deref(), b.meta().name.as_deref()))
    });
    Ok(items)
}

pub async fn get<K>(client: &Client, namespace: &str, name: &str) -> Result<Option<K>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    api::<K>(client, Some(namespace)).get_opt(name).await
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventView {
    pub at: Option<DateTime<Utc>>,
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub source: String,
}

/// The newest Events about `kind` `namespace/name`.
pub async fn events(
    client: &Client,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Vec<EventView>, kube::Error> {
    let fields = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let list = Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().fields(&fields).limit(200))
        .await?;
    let mut views: Vec<EventView> = list
        .items
        .into_iter()
        .map(|e| {
            let at = e
                .last_timestamp
                .as_ref()
                .map(javari_core::time::from_k8s)
                .or_else(|| {
                    e.event_time
                        .as_ref()
                        .map(|t| DateTime::from_timestamp(t.0.as_second(), 0).unwrap_or_default())
                })
                .or_else(|| {
                    e.metadata
                        .creation_timestamp
                        .as_ref()
                        .map(javari_core::time::from_k8s)
                });
            EventView {
                at,
                type_: e.type_.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                message: e.message.unwrap_or_default(),
                count: e.count.unwrap_or(1),
                source: e
                    .reporting_component
                    .filter(|c| !c.is_empty())
                    .or_else(|| e.source.and_then(|s| s.component))
                    .unwrap_or_default(),
            }
        })
        .collect();
    views.sort_by_key(|v| std::cmp::Reverse(v.at));
    views.truncate(EVENTS_SHOWN);
    Ok(views)
}
