//! Incidents on a real PostgreSQL: declared by hand, moved only along the lifecycle,
//! acknowledged once, given roles, annotated, merged, reopened and closed, with every change on
//! the timeline in order; a Monitor's incident starts in triage and its recovery resolves it.

use javari_core::incidents::{
    self, Declaration, IncidentError, IncidentStatus, Mover, Role, acknowledge, assign, declare,
    merge, note, timeline, transition,
};
use javari_core::monitors::{count_open_incidents, open_incident, resolve_incident};
use javari_crds::common::Severity;
use sqlx::PgPool;

fn declaration(title: &str) -> Declaration<'_> {
    Declaration {
        title,
        description: Some("chat answers time out"),
        severity: Severity::P1,
        actor: "alice@example.com",
        source: Some(("project", "prod", "web")),
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_declared_incident_walks_the_lifecycle_with_its_timeline(pool: PgPool) {
    let id = declare(&pool, declaration("Chat is slow"))
        .await
        .expect("declare");
    let i = incidents::get(&pool, id).await.expect("get");
    assert_eq!(i.status, IncidentStatus::Triage);
    assert_eq!(i.severity, Severity::P1);
    assert_eq!(i.declared_by.as_deref(), Some("alice@example.com"));

    // Nobody resolves what nobody looked at.
    let e = transition(
        &pool,
        id,
        IncidentStatus::Resolved,
        Mover::Person,
        "bob",
        "fixed",
    )
    .await
    .expect_err("triage -> resolved refused");
    assert!(matches!(e, IncidentError::Transition(_)), "{e}");
    assert!(
        e.to_string()
            .contains("from triage it can go to: investigating, declined, merged")
    );

    acknowledge(&pool, id, "bob@example.com")
        .await
        .expect("ack");
    let e = acknowledge(&pool, id, "carol@example.com")
        .await
        .expect_err("twice");
    assert!(matches!(e, IncidentError::AlreadyAcknowledged(_)));
    let i = incidents::get(&pool, id).await.expect("get");
    assert_eq!(i.status, IncidentStatus::Investigating);
    assert_eq!(i.acknowledged_by.as_deref(), Some("bob@example.com"));
    assert!(i.acknowledged_at.expect("acked at") >= i.opened_at);

    assign(
        &pool,
        id,
        Role::Commander,
        "bob@example.com",
        "bob@example.com",
    )
    .await
    .expect("commander");
    assign(
        &pool,
        id,
        Role::Communications,
        "carol@example.com",
        "bob@example.com",
    )
    .await
    .expect("comms");
    note(
        &pool,
        id,
        "connection pool exhausted",
        false,
        "bob@example.com",
    )
    .await
    .expect("note");
    note(
        &pool,
        id,
        "We are investigating slow answers.",
        true,
        "carol@example.com",
    )
    .await
    .expect("status update");
    for (to, msg) in [
        (IncidentStatus::Identified, "pool size 5 is too small"),
        (IncidentStatus::Monitoring, "pool raised to 20"),
        (IncidentStatus::Resolved, "latency back to normal"),
    ] {
        transition(&pool, id, to, Mover::Person, "bob@example.com", msg)
            .await
            .unwrap_or_else(|e| panic!("{to}: {e}"));
    }
    // Reopen, resolve again, then close after review.
    transition(
        &pool,
        id,
        IncidentStatus::Investigating,
        Mover::Person,
        "bob@example.com",
        "it came back",
    )
    .await
    .expect("reopen");
    assert!(
        incidents::get(&pool, id)
            .await
            .expect("get")
            .resolved_at
            .is_none()
    );
    transition(
        &pool,
        id,
        IncidentStatus::Resolved,
        Mover::Person,
        "bob@example.com",
        "for good",
    )
    .await
    .expect("resolve");
    transition(
        &pool,
        id,
        IncidentStatus::Closed,
        Mover::Person,
        "alice@example.com",
        "postmortem done",
    )
    .await
    .expect("close");
    let i = incidents::get(&pool, id).await.expect("get");
    assert_eq!(i.commander.as_deref(), Some("bob@example.com"));
    assert_eq!(i.communications.as_deref(), Some("carol@example.com"));
    assert!(i.closed_at.expect("closed") >= i.resolved_at.expect("resolved"));
    let e = transition(
        &pool,
        id,
        IncidentStatus::Investigating,
        Mover::Person,
        "x",
        "again",
    )
    .await
    .expect_err("closed is final");
    assert!(e.to_string().contains("it is final"), "{e}");

    let events = timeline(&pool, id).await.expect("timeline");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "declared",
            "acknowledged",
            "role_assigned",
            "role_assigned",
            "note",
            "status_update",
            "status_changed",
            "status_changed",
            "status_changed",
            "status_changed",
            "status_changed",
            "status_changed",
        ]
    );
    assert_eq!(events[6].data["from"], "investigating");
    assert_eq!(events[6].data["to"], "identified");
    assert_eq!(events[11].actor.as_deref(), Some("alice@example.com"));
    assert!(
        events
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at)
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn duplicates_merge_into_an_open_incident(pool: PgPool) {
    let main = declare(&pool, declaration("API down")).await.expect("main");
    let dup = declare(&pool, declaration("Site unreachable"))
        .await
        .expect("dup");
    assert_eq!(count_open_incidents(&pool).await.expect("count"), 2);

    let e = merge(&pool, main, main, "bob").await.expect_err("itself");
    assert!(matches!(e, IncidentError::MergeIntoItself));
    merge(&pool, dup, main, "bob").await.expect("merge");
    let d = incidents::get(&pool, dup).await.expect("dup");
    assert_eq!((d.status.as_str(), d.merged_into), ("merged", Some(main)));
    assert_eq!(
        incidents::get(&pool, main).await.expect("main").occurrences,
        2
    );
    assert_eq!(count_open_incidents(&pool).await.expect("count"), 1);
    let main_events = timeline(&pool, main).await.expect("timeline");
    assert_eq!(
        main_events.last().map(|e| e.kind.as_str()),
        Some("merged_from")
    );

    // A merged incident cannot move, and nothing merges into a resolved one.
    let e = transition(
        &pool,
        dup,
        IncidentStatus::Investigating,
        Mover::Person,
        "bob",
        "x",
    )
    .await
    .expect_err("merged is final");
    assert!(matches!(e, IncidentError::Transition(_)));
    let third = declare(&pool, declaration("Errors")).await.expect("third");
    transition(
        &pool,
        main,
        IncidentStatus::Investigating,
        Mover::Person,
        "bob",
        "looking",
    )
    .await
    .expect("investigate");
    transition(
        &pool,
        main,
        IncidentStatus::Resolved,
        Mover::Person,
        "bob",
        "done",
    )
    .await
    .expect("resolve");
    let e = merge(&pool, third, main, "bob")
        .await
        .expect_err("target resolved");
    assert!(matches!(e, IncidentError::MergeTargetClosed(_)), "{e}");

    // Bad text is refused before anything is written.
    let e = note(&pool, third, "   ", false, "bob")
        .await
        .expect_err("empty");
    assert!(matches!(e, IncidentError::Invalid(_)));
    let e = note(&pool, third, &"x".repeat(4001), false, "bob")
        .await
        .expect_err("long");
    assert!(matches!(e, IncidentError::Invalid(_)));
    assert_eq!(timeline(&pool, third).await.expect("timeline").len(), 1);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_monitor_incident_starts_in_triage_and_a_recovery_resolves_it(pool: PgPool) {
    let key = "monitor:prod/web";
    let id = open_incident(
        &pool,
        key,
        "web is down",
        Severity::P0,
        ("monitor", "prod", "web"),
        Some("api-down"),
        "3 checks failed",
    )
    .await
    .expect("open");
    acknowledge(&pool, id, "bob").await.expect("ack");
    transition(
        &pool,
        id,
        IncidentStatus::Identified,
        Mover::Person,
        "bob",
        "bad deploy",
    )
    .await
    .expect("identified");
    // Still open while identified: a new failure joins it instead of opening another.
    let again = open_incident(
        &pool,
        key,
        "web is down",
        Severity::P0,
        ("monitor", "prod", "web"),
        None,
        "failed again",
    )
    .await
    .expect("recur");
    assert_eq!(again, id);
    assert_eq!(
        resolve_incident(&pool, key, "checks pass")
            .await
            .expect("resolve"),
        Some(id)
    );
    let i = incidents::get(&pool, id).await.expect("get");
    assert_eq!(i.status, IncidentStatus::Resolved);
    assert_eq!(count_open_incidents(&pool).await.expect("count"), 0);
    // The next outage is a new incident.
    let next = open_incident(
        &pool,
        key,
        "web is down",
        Severity::P0,
        ("monitor", "prod", "web"),
        None,
        "down again",
    )
    .await
    .expect("open");
    assert_ne!(next, id);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_postmortem_is_drafted_from_the_timeline_and_the_data(pool: PgPool) {
    use chrono::Utc;
    use javari_core::monitors::{CheckRow, insert_checks};

    // A rotation in the namespace ten minutes before the outage: the lead.
    sqlx::query(
        "INSERT INTO javari_credential_audit_log (credential_namespace, credential_name, actor, action, version, created_at) \
         VALUES ('prod', 'db-password', 'javari-operator', 'rotate', 4, now() - interval '10 minutes')",
    )
    .execute(&pool)
    .await
    .expect("audit row");
    let id = open_incident(
        &pool,
        "monitor:prod/web",
        "web is down",
        Severity::P0,
        ("monitor", "prod", "web"),
        Some("api-down"),
        "3 checks failed",
    )
    .await
    .expect("open");
    // All inside the incident's window: after it opened, before it is resolved below.
    let at = Utc::now();
    let rows: Vec<CheckRow> = (0..10)
        .map(|i| CheckRow {
            namespace: "prod".into(),
            monitor: "web".into(),
            target: "http://web/health".into(),
            passed: i >= 7,
            response_time_ms: Some(10),
            status_code: Some(if i >= 7 { 200 } else { 503 }),
            error: None,
            checked_at: at,
        })
        .collect();
    insert_checks(&pool, &rows).await.expect("checks");
    acknowledge(&pool, id, "bob").await.expect("ack");
    note(&pool, id, "rolled back web", false, "bob")
        .await
        .expect("note");
    resolve_incident(&pool, "monitor:prod/web", "checks pass again")
        .await
        .expect("resolve");
    incidents::add_action_item(
        &pool,
        id,
        "Alert on pool saturation",
        "carol",
        chrono::NaiveDate::from_ymd_opt(2027, 1, 15),
    )
    .await
    .expect("item");

    let md = incidents::postmortem(&pool, id).await.expect("draft");
    for needle in [
        "# Postmortem: web is down",
        "Last change before it started: Credential db-password rotate to v4",
        "Failed checks: 7 of 10",
        "Affected components: monitor prod/web",
        "checks pass again",
        "| acknowledged | bob |",
        "rolled back web",
        "- [ ] Alert on pool saturation — carol, due 2027-01-15",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }

    // Edited and saved, it is what the incident shows from then on.
    let edited = format!("{md}\nReviewed with the team.\n");
    incidents::save_postmortem(&pool, id, &edited, "alice")
        .await
        .expect("save");
    assert_eq!(
        incidents::postmortem(&pool, id).await.expect("saved"),
        edited
    );
    let e = incidents::save_postmortem(&pool, id, &"x".repeat(200_001), "alice")
        .await
        .expect_err("too long");
    assert!(matches!(e, IncidentError::Invalid(_)));
    let e = incidents::add_action_item(&pool, id, " ", "carol", None)
        .await
        .expect_err("no title");
    assert!(matches!(e, IncidentError::Invalid(_)));
}
