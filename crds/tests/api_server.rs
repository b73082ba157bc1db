//! The CRDs against a real kube-apiserver: they install, the examples apply, and bad
//! manifests are refused with a message that names the field.

use javari_testenv::{ControlPlane, workspace_root};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::{Client, ResourceExt};

async fn setup() -> (Client, String) {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    (client, ns)
}

async fn api_for(client: &Client, ns: &str, obj: &DynamicObject) -> Api<DynamicObject> {
    let types = obj.types.as_ref().expect("apiVersion and kind");
    let gvk = GroupVersionKind::try_from(types).expect("gvk");
    let (resource, _) = pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("{gvk:?} not served: {e}"));
    Api::namespaced_with(client.clone(), ns, &resource)
}

fn documents(yaml: &str) -> Vec<DynamicObject> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| DynamicObject::deserialize(doc).expect("manifest parses"))
        .collect()
}

#[tokio::test]
async fn every_example_applies() {
    let (client, ns) = setup().await;
    let dir = workspace_root().join("examples");
    let mut applied = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
    {
        let text = std::fs::read_to_string(path).expect("read example");
        for mut obj in documents(&text) {
            obj.metadata.namespace = Some(ns.clone());
            let api = api_for(&client, &ns, &obj).await;
            let name = obj.name_any();
            let kind = obj
                .types
                .as_ref()
                .map(|t| t.kind.clone())
                .unwrap_or_default();
            api.patch(
                &name,
                &PatchParams::apply("javari-test").force(),
                &Patch::Apply(&obj),
            )
            .await
            .unwrap_or_else(|e| panic!("{} {kind}/{name} was refused: {e}", path.display()));
            // Defaults from the schema were applied by the server.
            let stored = api.get(&name).await.expect("stored");
            assert!(stored.data.get("spec").is_some());
            applied.push(format!("{kind}/{name}"));
        }
    }
    for kind in [
        "Project/",
        "Provider/",
        "Monitor/",
        "Credential/",
        "BackupPolicy/",
    ] {
        assert!(
            applied.iter().any(|a| a.starts_with(kind)),
            "examples/ has no {kind}: {applied:?}"
        );
    }
}

#[tokio::test]
async fn server_applies_schema_defaults() {
    let (client, ns) = setup().await;
    let obj = documents(
        "apiVersion: javari.ai/v1alpha1\nkind: Monitor\nmetadata: {name: defaults}\nspec:\n  url: https://example.com/health\n",
    )
    .remove(0);
    let api = api_for(&client, &ns, &obj).await;
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("minimal monitor accepted");
    let spec = &created.data["spec"];
    assert_eq!(spec["failureThreshold"], 3);
    assert_eq!(spec["successThreshold"], 1);
    assert_eq!(spec["severity"], "P2");
    assert_eq!(spec["conditions"][0], "[STATUS] == 200");
}

/// (what is wrong, manifest, fragments the API server's message must contain)
const INVALID: &[(&str, &str, &[&str])] = &[
    (
        "project without image",
        "kind: Project\nspec: {replicas: 1}",
        &["spec.image", "Required value"],
    ),
    (
        "negative replicas",
        "kind: Project\nspec: {image: nginx, replicas: -1}",
        &["spec.replicas", "greater than or equal to 0"],
    ),
    (
        "port out of range",
        "kind: Project\nspec: {image: nginx, port: 70000}",
        &["spec.port", "less than or equal to 65535"],
    ),
    (
        "health path not absolute",
        "kind: Project\nspec: {image: nginx, healthPath: health}",
        &["spec.healthPath", "should match"],
    ),
    (
        "unknown provider api",
        "kind: Provider\nspec: {api: azure, endpoint: 'https://x.example', models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}]}",
        &["spec.api", "Unsupported value: \"azure\""],
    ),
    (
        "hosted provider without credential",
        "kind: Provider\nspec: {api: openai, endpoint: 'https://api.openai.com/v1', models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}]}",
        &["spec.credentialRef", "credentialRef is required"],
    ),
    (
        "provider endpoint with a query",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1?x=http://10.0.0.1/', models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}]}",
        &["spec.endpoint", "should match"],
    ),
    (
        "provider endpoint with a fragment",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1#admin', models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}]}",
        &["spec.endpoint", "should match"],
    ),
    (
        "provider without models",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1', models: []}",
        &["spec.models", "at least 1 items"],
    ),
    (
        "duplicate model names",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1', models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}, {name: m, inputCostPer1k: 1, outputCostPer1k: 1}]}",
        &["spec.models", "must be unique"],
    ),
    (
        "negative price",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1', models: [{name: m, inputCostPer1k: -1, outputCostPer1k: 0}]}",
        &[
            "spec.models[0].inputCostPer1k",
            "greater than or equal to 0",
        ],
    ),
    (
        "monitor with both url and projectRef",
        "kind: Monitor\nspec: {url: 'https://x.example', projectRef: {name: web}}",
        &["spec", "exactly one of projectRef or url must be set"],
    ),
    (
        "monitor with neither url nor projectRef",
        "kind: Monitor\nspec: {interval: 30s}",
        &["spec", "exactly one of projectRef or url must be set"],
    ),
    (
        "zero failure threshold",
        "kind: Monitor\nspec: {url: 'https://x.example', failureThreshold: 0}",
        &["spec.failureThreshold", "greater than or equal to 1"],
    ),
    (
        "zero success threshold",
        "kind: Monitor\nspec: {url: 'https://x.example', successThreshold: 0}",
        &["spec.successThreshold", "greater than or equal to 1"],
    ),
    (
        "severity outside P0-P3",
        "kind: Monitor\nspec: {url: 'https://x.example', severity: P5}",
        &["spec.severity", "Unsupported value: \"P5\""],
    ),
    (
        "malformed interval",
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 30 seconds}",
        &["spec.interval", "should match"],
    ),
    (
        "interval and schedule together",
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 30s, schedule: '*/5 * * * *'}",
        &["spec", "set interval or schedule, not both"],
    ),
    (
        "condition outside the grammar",
        "kind: Monitor\nspec: {url: 'https://x.example', conditions: ['status is 200']}",
        &["spec.conditions[0]", "should match"],
    ),
    (
        "warning latency above critical",
        "kind: Monitor\nspec: {url: 'https://x.example', latency: {warningMs: 1000, criticalMs: 500}}",
        &["spec.latency", "warningMs must be below criticalMs"],
    ),
    (
        "rollback without a project",
        "kind: Monitor\nspec: {url: 'https://x.example', actions: {rollback: true}}",
        &[
            "spec.actions.rollback",
            "actions.rollback requires projectRef",
        ],
    ),
    (
        "monitor interval below the 1s floor",
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 1ms, request: {timeout: 0s}}",
        &["spec.interval", "interval must be at least 1s"],
    ),
    (
        "monitor interval of zero",
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 0s, request: {timeout: 0s}}",
        &["spec.interval", "interval must be at least 1s"],
    ),
    (
        "monitor timeout longer than its interval",
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 5s, request: {timeout: 1h}}",
        &["spec.request.timeout", "must be shorter than interval"],
    ),
    (
        "monitor default timeout (10s) over a 5s interval",
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 5s}",
        &["spec.request.timeout", "must be shorter than interval"],
    ),
    (
        "monitor timeout over the default interval",
        "kind: Monitor\nspec: {url: 'https://x.example', request: {timeout: 2m}}",
        &["spec.request.timeout", "must be shorter than interval"],
    ),
    (
        "provider probe interval of zero",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1', probe: {interval: 0s, timeout: 0s}, models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}]}",
        &["spec.probe.interval", "probe.interval must be at least 1s"],
    ),
    (
        "provider probe timeout not below its interval",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1', probe: {interval: 1m, timeout: 60s}, models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}]}",
        &["spec.probe.timeout", "shorter than probe.interval"],
    ),
    (
        "project naming itself as parent",
        "kind: Project\nspec: {image: nginx, parent: {name: bad-PLACEHOLDER}}",
        &["spec.parent.name", "cannot be its own parent"],
    ),
    (
        "grace period as long as the rotation period",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {everyDays: 7}}",
        &[
            "spec.rotation.gracePeriod",
            "shorter than the rotation period",
        ],
    ),
    (
        "grace period over the rotation period, in weeks and hours",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {everyDays: 14, gracePeriod: 2w1h}}",
        &[
            "spec.rotation.gracePeriod",
            "shorter than the rotation period",
        ],
    ),
    (
        "bad cron expression",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {schedule: 'every day'}}",
        &["spec.rotation.schedule", "should match"],
    ),
    (
        "schedule and everyDays together",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {schedule: '0 3 * * *', everyDays: 90}}",
        &[
            "spec.rotation",
            "a rotation has a schedule or everyDays, not both",
        ],
    ),
    (
        "zero everyDays",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {everyDays: 0}}",
        &["spec.rotation.everyDays", "greater than or equal to 1"],
    ),
    (
        "malformed grace period",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {everyDays: 90, gracePeriod: 7 days}}",
        &["spec.rotation.gracePeriod", "should match"],
    ),
    (
        "two sources",
        "kind: Credential\nspec: {service: github, source: {generate: {}, external: {}}}",
        &[
            "spec.source",
            "exactly one of generate, secretRef or external",
        ],
    ),
    (
        "password too short",
        "kind: Credential\nspec: {service: db, source: {generate: {length: 4}}}",
        &["spec.source.generate.length", "greater than or equal to 12"],
    ),
    (
        "unknown credential type",
        "kind: Credential\nspec: {service: db, type: magic, source: {external: {}}}",
        &["spec.type", "Unsupported value: \"magic\""],
    ),
    (
        "backup schedule not cron",
        "kind: BackupPolicy\nspec: {schedule: 'every night'}",
        &["spec.schedule"],
    ),
    (
        "s3 destination without keys",
        "kind: BackupPolicy\nspec: {destination: {url: 's3://bucket/prefix'}}",
        &["spec.destination.url", "needs credentialRef or secretRef"],
    ),
    (
        "endpoint on a local destination",
        "kind: BackupPolicy\nspec: {destination: {url: 'file:///var/backups', endpoint: 'http://minio:9000'}}",
        &["spec.destination.endpoint", "s3:// destinations only"],
    ),
    (
        "staleAfter below an hour",
        "kind: BackupPolicy\nspec: {staleAfter: 30m}",
        &["spec.staleAfter", "at least 1h"],
    ),
    (
        "retention keeps nothing",
        "kind: BackupPolicy\nspec: {retention: {keepLast: 0}}",
        &["spec.retention.keepLast", "greater than or equal to 1"],
    ),
    (
        "too many dump jobs",
        "kind: BackupPolicy\nspec: {jobs: 64}",
        &["spec.jobs", "less than or equal to 8"],
    ),
];

#[tokio::test]
async fn invalid_manifests_are_refused_with_a_message_naming_the_field() {
    let (client, ns) = setup().await;
    let mut failures = Vec::new();
    for (i, (what, body, expected)) in INVALID.iter().enumerate() {
        let body = body.replace("PLACEHOLDER", &i.to_string());
        let yaml = format!("apiVersion: javari.ai/v1alpha1\nmetadata: {{name: bad-{i}}}\n{body}\n");
        let obj = documents(&yaml).remove(0);
        let api = api_for(&client, &ns, &obj).await;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(kube::Error::Api(status)) => {
                if status.code != 422 {
                    failures.push(format!("{what}: HTTP {} {}", status.code, status.message));
                }
                for fragment in *expected {
                    if !status.message.contains(fragment) {
                        failures.push(format!(
                            "{what}: message lacks {fragment:?}: {}",
                            status.message
                        ));
                    }
                }
            }
            Err(other) => failures.push(format!("{what}: unexpected error {other}")),
        }
    }
    assert!(INVALID.len() >= 10);
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        INVALID.len(),
        failures.join("\n")
    );
}

/// The floors themselves are accepted: a 1s Monitor with a shorter timeout, a 1s probe, a
/// grace period just under the rotation period, a Project under another one.
#[tokio::test]
async fn values_at_the_bounds_are_accepted() {
    let (client, ns) = setup().await;
    let valid = [
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 1s, request: {timeout: 900ms}}",
        "kind: Monitor\nspec: {url: 'https://x.example', interval: 1h, request: {timeout: 59m59s}}",
        "kind: Monitor\nspec: {url: 'https://x.example', schedule: '* * * * *', request: {timeout: 2m}}",
        "kind: Provider\nspec: {api: openai-compatible, endpoint: 'http://ollama:11434/v1', probe: {interval: 1s, timeout: 999ms}, models: [{name: m, inputCostPer1k: 0, outputCostPer1k: 0}]}",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {everyDays: 7, gracePeriod: 6d23h}}",
        "kind: Credential\nspec: {service: github, source: {generate: {}}, rotation: {schedule: '0 3 * * *', gracePeriod: 30d}}",
        "kind: Project\nspec: {image: nginx, parent: {name: platform}}",
    ];
    for (i, body) in valid.iter().enumerate() {
        let yaml = format!("apiVersion: javari.ai/v1alpha1\nmetadata: {{name: ok-{i}}}\n{body}\n");
        let obj = documents(&yaml).remove(0);
        let api = api_for(&client, &ns, &obj).await;
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("{body}: refused: {e}"));
    }
}
