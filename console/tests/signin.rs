//! Sign-in under attack, over real TCP from distinct loopback addresses: throttling per
//! client and per account and client (the owner is never locked out from elsewhere),
//! `X-Forwarded-For` only from trusted proxies, the bound on password checks (503 with
//! Retry-After), and a flood of made-up emails that costs no password check.

mod support;

use std::time::{Duration, Instant};

use javari_console::auth::parse_networks;
use sqlx::PgPool;
use support::forms::{client_from, login_form, post_login};
use support::{Harness, PASSWORD, test_settings};

const ADMIN: &str = "admin@example.test";

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn an_attacker_failing_from_one_client_does_not_stop_the_admin_from_another(pool: PgPool) {
    let h = Harness::start(pool).await;
    let attacker = client_from("127.0.0.2");
    let form = login_form(&attacker, &h).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = post_login(&attacker, &h, &form, ADMIN, "guess guess guess").await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let refused = post_login(&attacker, &h, &form, ADMIN, PASSWORD).await;
    assert_eq!(refused.status().as_u16(), 429, "the guessing client waits");
    assert!(refused.headers().contains_key("retry-after"));

    let owner = client_from("127.0.0.3");
    let form = login_form(&owner, &h).await;
    let signed_in = post_login(&owner, &h, &form, ADMIN, PASSWORD).await;
    assert_eq!(
        signed_in.status().as_u16(),
        303,
        "the admin signs in from their own address"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn forwarded_for_is_believed_only_from_trusted_proxies(pool: PgPool) {
    let h = Harness::start(pool).await;
    // Not a proxy: rotating X-Forwarded-For does not make it a new client.
    let attacker = client_from("127.0.0.4");
    let form = login_form(&attacker, &h).await;
    let mut statuses = Vec::new();
    for i in 0..7 {
        let r = attacker
            .post(h.url("/login"))
            .header("cookie", &form.0)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[
                ("email", ADMIN),
                ("password", "guess guess guess"),
                ("csrf_token", form.1.as_str()),
            ])
            .send()
            .await
            .expect("post");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn behind_a_trusted_proxy_clients_are_told_apart_by_forwarded_for(pool: PgPool) {
    let mut settings = test_settings();
    settings.auth.trusted_proxies = parse_networks("127.0.0.5/32").expect("cidr");
    let h = Harness::with_settings(pool, settings).await;
    let proxy = client_from("127.0.0.5");
    let form = login_form(&proxy, &h).await;
    let post = |client_ip: &'static str, password: &'static str| {
        proxy
            .post(h.url("/login"))
            .header("cookie", &form.0)
            // The left entry is whatever the client claimed; the proxy appended the peer.
            .header("x-forwarded-for", format!("10.9.9.9, {client_ip}"))
            .form(&[
                ("email", ADMIN),
                ("password", password),
                ("csrf_token", form.1.as_str()),
            ])
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            post("198.51.100.7", "guess guess")
                .await
                .expect("post")
                .status()
                .as_u16(),
            401
        );
    }
    assert_eq!(
        post("198.51.100.7", PASSWORD)
            .await
            .expect("post")
            .status()
            .as_u16(),
        429
    );
    assert_eq!(
        post("198.51.100.8", PASSWORD)
            .await
            .expect("post")
            .status()
            .as_u16(),
        303,
        "another client behind the same proxy"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn when_every_password_check_slot_is_busy_sign_in_answers_503(pool: PgPool) {
    let mut settings = test_settings();
    settings.auth.max_password_checks = 1;
    settings.auth.max_password_waiters = 0;
    let h = Harness::with_settings(pool, settings).await;
    let http = client_from("127.0.0.6");
    let form = login_form(&http, &h).await;
    let held = h.state.auth.gate.hold_all().await;
    let busy = post_login(&http, &h, &form, ADMIN, PASSWORD).await;
    assert_eq!(busy.status().as_u16(), 503);
    assert_eq!(busy.headers()["retry-after"], "2");
    let unknown = post_login(&http, &h, &form, "nobody@example.test", PASSWORD).await;
    assert_eq!(
        unknown.status().as_u16(),
        401,
        "an unknown email needs no slot"
    );
    drop(held);
    let signed_in = post_login(&http, &h, &form, ADMIN, PASSWORD).await;
    assert_eq!(signed_in.status().as_u16(), 303);
    let stats = h.state.auth.gate.stats();
    assert_eq!((stats.verifications, stats.refused), (1, 1), "{stats:?}");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_admin_signs_in_during_a_flood_of_random_emails(pool: PgPool) {
    let mut settings = test_settings();
    settings.auth.max_password_checks = 2;
    let h = Harness::with_settings(pool, settings).await;
    // 200 sign-ins at once with made-up emails, from four addresses.
    let mut flood = Vec::new();
    for c in 0..4 {
        let http = client_from(&format!("127.0.1.{}", c + 1));
        let form = login_form(&http, &h).await;
        for i in 0..50 {
            let (http, form, url) = (http.clone(), form.clone(), h.url("/login"));
            flood.push(tokio::spawn(async move {
                let email = format!("{}-{c}-{i}@example.test", uuid::Uuid::new_v4());
                http.post(url)
                    .header("cookie", &form.0)
                    .form(&[
                        ("email", email.as_str()),
                        ("password", "whatever it is"),
                        ("csrf_token", form.1.as_str()),
                    ])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }));
        }
    }
    let started = Instant::now();
    while h.state.auth.gate.stats().decoys < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the flood started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let owner = client_from("127.0.0.7");
    let form = login_form(&owner, &h).await;
    let admin = post_login(&owner, &h, &form, ADMIN, PASSWORD).await;
    assert_eq!(
        admin.status().as_u16(),
        303,
        "the admin signs in during the flood"
    );

    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for task in flood {
        let status = task.await.expect("task").expect("response");
        *statuses.entry(status).or_default() += 1;
    }
    assert!(
        statuses.keys().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0),
        200 - 4 * 30,
        "each address has 30 failures per window: {statuses:?}"
    );
    let stats = h.state.auth.gate.stats();
    assert_eq!(
        stats.verifications, 1,
        "made-up emails ran no argon2 (19 MiB each); only the admin's password was checked: {stats:?}"
    );
    assert!(stats.peak_running <= stats.max_checks, "{stats:?}");
    let sessions = h.scalar_i64("SELECT count(*) FROM javari_sessions").await;
    assert_eq!(sessions, 1);
}
