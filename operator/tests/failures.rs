//! Every controller reports a resource that cannot work the same way: a Warning Event and
//! Ready=False / Degraded=True with the same reason and a message naming the field at fault.

mod support;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::{Client, Resource};
use serde_json::{Value, json};
use support::{Harness, wait_for};

async fn create<K: Resource<DynamicType = ()>>(client: &Client, ns: &str, name: &str, spec: Value) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<K>(&()));
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": K::api_version(&()), "kind": K::kind(&()),
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {} {name}: {e}", K::kind(&())));
}

/// The conditions of `name` as the apiserver stores them.
async fn conditions<K: Resource<DynamicType = ()>>(
    client: &Client,
    ns: &str,
    name: &str,
) -> Vec<Condition> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<K>(&()));
    let Ok(obj) = api.get(name).await else {
        return Vec::new();
    };
    obj.data
        .pointer("/status/conditions")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

/// Waits until `name` is Degraded with `reason` and a Warning Event says the same; returns
/// the condition's message.
async fn reported<K: Resource<DynamicType = ()>>(
    client: &Client,
    ns: &str,
    name: &str,
    reason: &str,
) -> String {
    let kind = K::kind(&());
    let what = format!("{kind} {name} Degraded with {reason}");
    let degraded = wait_for(&what, async || {
        let conditions = conditions::<K>(client, ns, name).await;
        let find = |type_: &str, status: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == type_ && c.status == status && c.reason == reason)
                .cloned()
        };
        let degraded = find("Degraded", "True")?;
        let ready = find("Ready", "False")?;
        (ready.message == degraded.message).then_some(degraded)
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let event = wait_for(&format!("a {reason} Event on {kind} {name}"), async || {
        let list = events
            .list(&ListParams::default().fields(&format!(
                "involvedObject.kind={kind},involvedObject.name={name}"
            )))
            .await
            .ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.message.as_deref(),
        Some(degraded.message.as_str()),
        "the Event and the condition say the same"
    );
    degraded.message
}

#[tokio::test]
async fn each_kind_reports_what_cannot_work_as_an_event_and_a_degraded_condition() {
    let env = Harness::new().await;
    // Nothing listens on port 9: GitHub is unreachable.
    let running = env
        .start(|c| c.with_github_api("http://127.0.0.1:9".to_owned()))
        .await;
    let (client, ns) = (&env.client, env.ns.as_str());

    create::<javari_crds::Project>(
        client,
        ns,
        "follows-branch",
        json!({"image": "registry.local/web:{commit}",
               "github": {"owner": "javari-ai", "repo": "web", "branch": "main"}}),
    )
    .await;
    create::<javari_crds::Project>(
        client,
        ns,
        "needs-db",
        json!({"image": "nginx:1.27",
               "credentials": [{"env": "DB_PASSWORD", "credentialRef": {"name": "no-such-db"}}]}),
    )
    .await;
    create::<javari_crds::Provider>(
        client,
        ns,
        "keyless",
        json!({"api": "openai", "endpoint": "http://127.0.0.1:9/v1",
               "credentialRef": {"name": "no-such-key"},
               "probe": {"interval": "1s", "timeout": "900ms"},
               "models": [{"name": "gpt-4o-mini", "inputCostPer1k": 0, "outputCostPer1k": 0}]}),
    )
    .await;
    create::<javari_crds::Monitor>(
        client,
        ns,
        "bad-cron",
        json!({"url": "http://127.0.0.1:9/", "schedule": "61 * * * *"}),
    )
    .await;
    create::<javari_crds::Monitor>(
        client,
        ns,
        "orphan",
        json!({"projectRef": {"name": "no-such-project"}, "interval": "30s"}),
    )
    .await;
    create::<javari_crds::Credential>(
        client,
        ns,
        "imported",
        json!({"service": "ai", "source": {"secretRef": {"name": "no-such-secret", "key": "value"}}}),
    )
    .await;

    create::<javari_crds::BackupPolicy>(
        client,
        ns,
        "team-db",
        json!({"database": {"secretRef": {"name": "no-such-db-secret", "key": "url"}}}),
    )
    .await;

    let cases: Vec<(String, &str)> = vec![
        (
            reported::<javari_crds::Project>(client, ns, "follows-branch", "GitHubUnreachable")
                .await,
            "spec.github",
        ),
        (
            reported::<javari_crds::Project>(client, ns, "needs-db", "CredentialNotFound").await,
            "spec.credentials",
        ),
        (
            reported::<javari_crds::Provider>(client, ns, "keyless", "CredentialNotFound").await,
            "spec.credentialRef",
        ),
        (
            reported::<javari_crds::Monitor>(client, ns, "bad-cron", "InvalidSchedule").await,
            "spec.schedule",
        ),
        (
            reported::<javari_crds::Monitor>(client, ns, "orphan", "ProjectNotFound").await,
            "spec.projectRef",
        ),
        (
            reported::<javari_crds::Credential>(client, ns, "imported", "SourceSecretMissing")
                .await,
            "spec.source.secretRef",
        ),
        (
            reported::<javari_crds::BackupPolicy>(client, ns, "team-db", "SourceUnavailable").await,
            "spec.database.secretRef",
        ),
    ];
    for (message, field) in cases {
        assert!(
            message.starts_with(field),
            "{message:?} starts with {field}"
        );
    }

    // A fixed resource recovers: the Monitor's schedule is corrected and Degraded clears.
    let monitors: Api<javari_crds::Monitor> = Api::namespaced(client.clone(), ns);
    monitors
        .patch(
            "bad-cron",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&json!({"spec": {"schedule": "*/5 * * * *"}})),
        )
        .await
        .expect("fix the schedule");
    wait_for("bad-cron no longer Degraded", async || {
        let conditions = conditions::<javari_crds::Monitor>(client, ns, "bad-cron").await;
        conditions
            .iter()
            .any(|c| c.type_ == "Degraded" && c.status == "False")
            .then_some(())
    })
    .await;
    running.stop().await;
}
