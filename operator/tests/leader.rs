//! Leader election on a real kube-apiserver: one holder at a time, takeover after the Lease
//! lapses, and at once after a release.

use std::time::{Duration, Instant};

use javari_operator::leader::Elector;
use javari_testenv::{ControlPlane, eventually};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;

#[tokio::test]
async fn one_leader_at_a_time_with_takeover() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.test_namespace(&client).await.expect("namespace");
    let lease = Duration::from_secs(2);
    let a = Elector::new(client.clone(), &ns, "javari-operator", "replica-a", lease);
    let b = Elector::new(client.clone(), &ns, "javari-operator", "replica-b", lease);

    assert!(
        a.try_acquire().await.expect("a"),
        "the first candidate wins"
    );
    assert!(!b.try_acquire().await.expect("b"), "the second waits");
    assert!(a.try_acquire().await.expect("renew"), "the holder renews");
    assert!(!b.try_acquire().await.expect("b"));

    // A stops renewing (crashed): B takes over once the Lease lapses, not before.
    let started = Instant::now();
    b.acquire().await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "took over after {waited:?}, before the Lease lapsed"
    );
    assert!(
        waited < Duration::from_secs(6),
        "took over after {waited:?}"
    );
    assert!(!a.try_acquire().await.expect("a"), "the old holder is out");

    // A clean release hands over at once.
    b.release().await;
    let started = Instant::now();
    a.acquire().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!b.try_acquire().await.expect("b"));

    // Racing candidates on a lapsed Lease: exactly one wins.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    eventually("the Lease lapses", Duration::from_secs(10), async || {
        let spec = leases.get("javari-operator").await.ok()?.spec?;
        let renewed = spec.renew_time?.0;
        let lasts = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds?));
        (renewed.checked_add(lasts).ok()? < Timestamp::now()).then_some(())
    })
    .await;
    let (ra, rb) = tokio::join!(a.try_acquire(), b.try_acquire());
    assert!(
        ra.expect("a") ^ rb.expect("b"),
        "exactly one of two racing candidates wins"
    );
}
