//! The schema browser in a real browser (Debian's chromium through chromedriver): sign in,
//! open a table, follow a foreign key to its neighbour, and see the relation diagram.

#[path = "support/browser.rs"]
mod browser_harness;
mod support;

use std::time::Duration;

use browser_harness::{browser, script_text, sign_in_as, wait_until};
use fantoccini::Locator;
use sqlx::PgPool;
use support::Harness;

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn open_a_table_follow_a_foreign_key_and_see_the_diagram(pool: PgPool) {
    let h = Harness::start(pool).await;
    let (driver, c, _profile) = browser().await;

    sign_in_as(
        &c,
        &h,
        "viewer@example.test",
        "/schema/tables/public/javari_sessions",
    )
    .await;
    wait_until(
        "signed in and on the table page",
        Duration::from_secs(10),
        async || {
            script_text(
                &c,
                "return location.pathname === '/schema/tables/public/javari_sessions' \
             && document.readyState === 'complete' && document.querySelector('#table-title') \
             ? document.querySelector('#table-title').textContent : '';",
            )
            .await
            .filter(|s| s == "public.javari_sessions")
        },
    )
    .await;

    // The diagram of the sessions table is drawn, with javari_users as a neighbour.
    let boxes = script_text(
        &c,
        "const svg = document.querySelector('#diagram svg'); \
         return svg ? String(svg.querySelectorAll('a').length) + ' ' + \
         (svg.querySelector('a[href=\"/schema/tables/public/javari_users\"]') ? 'users' : '') : '';",
    )
    .await
    .expect("diagram");
    assert!(boxes.ends_with(" users"), "diagram boxes: {boxes}");

    c.find(Locator::Css(
        "#references a.fk[href='/schema/tables/public/javari_users']",
    ))
    .await
    .expect("the foreign key to javari_users")
    .click()
    .await
    .expect("follow it");
    wait_until("on the users table", Duration::from_secs(10), async || {
        script_text(
            &c,
            "return location.pathname === '/schema/tables/public/javari_users' \
             && document.readyState === 'complete' && document.querySelector('#table-title') \
             ? document.querySelector('#table-title').textContent : '';",
        )
        .await
        .filter(|s| s == "public.javari_users")
    })
    .await;
    // The neighbour's diagram shows the tables referencing it, sessions among them, and the
    // browser laid it out (it has a size).
    let seen = script_text(
        &c,
        "const svg = document.querySelector('#diagram svg'); \
         if (!svg) return ''; const r = svg.getBoundingClientRect(); \
         return (r.width > 100 && r.height > 50 ? 'drawn' : 'empty') + ' ' + \
         (svg.querySelector('a[href=\"/schema/tables/public/javari_sessions\"]') ? 'sessions' : 'no-sessions') + ' ' + \
         svg.querySelectorAll('path.e').length;",
    )
    .await
    .expect("diagram");
    let parts: Vec<&str> = seen.split(' ').collect();
    assert_eq!(parts[..2], ["drawn", "sessions"], "{seen}");
    let edges: usize = parts[2].parse().expect("edges");
    assert!(
        edges >= 5,
        "javari_users is referenced by many tables: {edges} edges"
    );
    let _ = c.close().await;
    drop(driver);
}
