//! The vault on a real PostgreSQL: versions, audit, tamper detection, pruning, and master-key
//! rotation by `rewrap` in resumable batches.

use std::sync::Arc;

use javari_core::vault::{
    Keyring, MasterKey, NewCredential, SecretValue, Vault, VaultError, recent_audit, rewrap,
};
use sqlx::PgPool;

fn new<'a>(name: &'a str) -> NewCredential<'a> {
    NewCredential {
        namespace: "prod",
        name,
        service: "github",
        credential_type: "token",
        source: "generate",
    }
}

fn value(s: &str) -> SecretValue {
    SecretValue::from(s.to_owned())
}

fn ring(current: &MasterKey, old: &[&MasterKey]) -> Arc<Keyring> {
    let copy = |k: &MasterKey| MasterKey::parse("K", &k.to_hex()).expect("key");
    Arc::new(Keyring::new(
        copy(current),
        old.iter().map(|k| copy(k)).collect(),
    ))
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn versions_are_kept_read_back_and_audited(pool: PgPool) {
    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    let v1 = vault
        .create(new("gh"), &value("one"), "console:alice", "first")
        .await
        .expect("create");
    assert_eq!(v1.version, 1);
    let v2 = vault
        .rotate(&v1, &value("two"), Some("req-1"), "operator", "scheduled")
        .await
        .expect("rotate");
    assert_eq!(
        (v2.version, v2.rotate_request.as_deref()),
        (2, Some("req-1"))
    );
    // A stale writer loses instead of overwriting.
    let stale = vault
        .rotate(&v1, &value("other"), None, "operator", "race")
        .await;
    assert!(matches!(
        stale,
        Err(VaultError::Conflict {
            expected: 1,
            found: 2,
            ..
        })
    ));

    assert_eq!(
        vault
            .read(&v2, 1, "operator", "grace")
            .await
            .expect("v1")
            .expose(),
        b"one"
    );
    assert_eq!(
        vault
            .read(&v2, 2, "operator", "current")
            .await
            .expect("v2")
            .expose(),
        b"two"
    );
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT encrypted_value FROM javari_credentials WHERE name = 'gh'")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(
        !stored.windows(3).any(|w| w == b"two"),
        "no plaintext at rest"
    );

    let audit = recent_audit(&pool, "prod", "gh", 10).await.expect("audit");
    let actions: Vec<(&str, Option<i32>)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.version))
        .collect();
    assert_eq!(
        actions,
        [
            ("decrypt", Some(2)),
            ("decrypt", Some(1)),
            ("rotate", Some(2)),
            ("create", Some(1))
        ]
    );
    assert_eq!(
        audit.last().map(|a| a.actor.as_str()),
        Some("console:alice")
    );

    assert!(
        vault
            .delete("prod", "gh", "operator", "removed")
            .await
            .expect("delete")
    );
    let audit = recent_audit(&pool, "prod", "gh", 1).await.expect("audit");
    assert_eq!(
        audit[0].action, "delete",
        "the audit trail outlives the credential"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_tampered_row_is_an_error_naming_the_credential(pool: PgPool) {
    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    let c = vault
        .create(new("db-password"), &value("s3cret"), "operator", "t")
        .await
        .expect("create");
    sqlx::query("UPDATE javari_credential_snapshots SET encrypted_value = set_byte(encrypted_value, 0, get_byte(encrypted_value, 0) # 1)")
        .execute(&pool)
        .await
        .expect("tamper");
    let err = vault
        .read(&c, 1, "operator", "t")
        .await
        .expect_err("tampered");
    assert!(matches!(err, VaultError::Decrypt { .. }));
    assert!(err.to_string().contains("prod/db-password"), "{err}");
    assert!(!err.to_string().contains("s3cret"));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn pruning_keeps_the_history_limit(pool: PgPool) {
    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    let mut c = vault
        .create(new("p"), &value("v1"), "operator", "t")
        .await
        .expect("create");
    for i in 2..=6 {
        c = vault
            .rotate(&c, &value(&format!("v{i}")), None, "operator", "t")
            .await
            .expect("rotate");
    }
    assert_eq!(vault.prune(&c, 3).await.expect("prune"), 3);
    assert!(!vault.has_version(&c, 3).await.expect("v3"));
    assert!(vault.has_version(&c, 4).await.expect("v4"));
    assert_eq!(
        vault.prune(&c, 1).await.expect("prune"),
        1,
        "current and previous always stay"
    );
    assert!(vault.has_version(&c, 5).await.expect("v5"));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn rewrap_moves_everything_to_the_new_key_in_resumable_batches(pool: PgPool) {
    let key_a = MasterKey::generate();
    let key_b = MasterKey::generate();
    let under_a = Vault::new(pool.clone(), ring(&key_a, &[]));
    let mut rows = Vec::new();
    for i in 0..3 {
        let c = under_a
            .create(
                new(&format!("c{i}")),
                &value(&format!("first-{i}")),
                "operator",
                "t",
            )
            .await
            .expect("create");
        rows.push(
            under_a
                .rotate(&c, &value(&format!("second-{i}")), None, "operator", "t")
                .await
                .expect("rotate"),
        );
    }

    // B alone cannot read A's rows, and says so at start-up.
    let only_b = Vault::new(pool.clone(), ring(&key_b, &[]));
    let err = only_b.verify_keys().await.expect_err("mismatch");
    assert!(
        err.to_string().contains(key_a.id()) && err.to_string().contains(key_b.id()),
        "{err}"
    );

    // An interrupted rewrap (one batch) leaves every row readable with A still listed.
    let b_with_a = ring(&key_b, &[&key_a]);
    let first = javari_core::vault::rewrap(&pool, &b_with_a, 2, "cli")
        .await
        .expect("rewrap");
    assert_eq!(first.versions, 6);
    assert_eq!(first.credentials, 3);
    assert!(first.batches >= 3, "batches of two: {first:?}");
    let again = rewrap(&pool, &b_with_a, 2, "cli")
        .await
        .expect("second run");
    assert_eq!(
        (again.versions, again.credentials),
        (0, 0),
        "nothing left to do"
    );

    only_b.verify_keys().await.expect("A can now be removed");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            only_b.read(row, 1, "t", "t").await.expect("v1").expose(),
            format!("first-{i}").as_bytes()
        );
        assert_eq!(
            only_b.read(row, 2, "t", "t").await.expect("v2").expose(),
            format!("second-{i}").as_bytes()
        );
    }
    let rewrapped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM javari_credential_audit_log WHERE action = 'rewrap'",
    )
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(rewrapped, 6, "one audit row per version rewrapped");
}
