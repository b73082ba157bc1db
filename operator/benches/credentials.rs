//! `make bench`: vault cipher cost per operation, and 1,000 Credentials created and then
//! rotated end to end by the real `javari-operator` binary against a real kube-apiserver and
//! PostgreSQL, with the operator's peak memory. Prints figures; asserts nothing about time.

mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use javari_core::vault::{Keyring, MasterKey, SecretValue, open, seal};
use javari_crds::Credential;
use javari_crds::credential::ROTATE_NOW_ANNOTATION;
use javari_testenv::{ControlPlane, fresh_database};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::OperatorProcess;

const CREDENTIALS: usize = 1_000;
const CIPHER_OPS: u32 = 200_000;

fn cipher_cost() {
    let keys = Keyring::new(MasterKey::generate(), vec![]);
    let id = uuid::Uuid::new_v4();
    let value = SecretValue::new(vec![b'x'; 40]);
    let started = Instant::now();
    let mut sealed = None;
    for _ in 0..CIPHER_OPS {
        sealed = Some(seal(keys.current(), id, 1, &value).expect("seal"));
    }
    let seal_ns = started.elapsed().as_nanos() / u128::from(CIPHER_OPS);
    let sealed = sealed.expect("sealed");
    let started = Instant::now();
    for _ in 0..CIPHER_OPS {
        std::hint::black_box(open(&keys, "bench", id, 1, &sealed).expect("open"));
    }
    let open_ns = started.elapsed().as_nanos() / u128::from(CIPHER_OPS);
    println!("vault encrypt (40-byte value, fresh nonce): {seal_ns} ns/op");
    println!("vault decrypt (40-byte value):              {open_ns} ns/op");
}

async fn wait_all(api: &Api<Credential>, version: i64) -> Duration {
    let started = Instant::now();
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        let done = list
            .items
            .iter()
            .filter(|c| c.status.as_ref().and_then(|s| s.version) == Some(version))
            .count();
        if done == CREDENTIALS {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "only {done} of {CREDENTIALS} reached version {version}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn rotation_end_to_end() {
    let cp = ControlPlane::start().await.expect("control plane");
    let client = cp.client().await.expect("client");
    javari_testenv::install_crds(&client).await.expect("CRDs");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let database_url = fresh_database()
        .await
        .expect("database (run through `make bench`)");
    let operator = OperatorProcess::spawn(&cp, &database_url, &ns, "warn");
    let api: Api<Credential> = Api::namespaced(client.clone(), &ns);

    let started = Instant::now();
    futures::stream::iter(0..CREDENTIALS)
        .map(|i| {
            let api = api.clone();
            async move {
                let obj: Credential = serde_json::from_value(json!({
                    "apiVersion": "javari.ai/v1alpha1", "kind": "Credential", "metadata": {"name": format!("bench-{i}")},
                    "spec": {"service": "bench", "source": {"generate": {"length": 32}}, "rotation": {"everyDays": 90, "gracePeriod": "1h"}}
                }))
                .expect("json");
                api.create(&PostParams::default(), &obj).await.map(|_| ())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("create credentials");
    let created_in = started.elapsed();
    let ready_in = wait_all(&api, 1).await + created_in;
    println!(
        "create {CREDENTIALS} Credentials -> Secrets (vault + Secret + status): {:.1} s",
        ready_in.as_secs_f64()
    );

    let started = Instant::now();
    futures::stream::iter(0..CREDENTIALS)
        .map(|i| {
            let api = api.clone();
            async move {
                let patch = json!({"metadata": {"annotations": {ROTATE_NOW_ANNOTATION: "bench"}}});
                api.patch(
                    &format!("bench-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(|_| ())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("annotate");
    let rotated_in = wait_all(&api, 2).await + started.elapsed();
    let rate = CREDENTIALS as f64 / rotated_in.as_secs_f64();
    println!(
        "rotate {CREDENTIALS} Credentials end to end: {:.1} s ({rate:.0}/s)",
        rotated_in.as_secs_f64()
    );
    println!(
        "javari-operator peak memory (VmHWM): {:.1} MiB",
        operator.mib("VmHWM:")
    );
}

#[tokio::main]
async fn main() {
    cipher_cost();
    rotation_end_to_end().await;
}
