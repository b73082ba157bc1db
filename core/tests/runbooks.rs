//! Every runbook in `runbooks/` parses and validates, the seeds' playbooks are there, and each
//! `sql` step of each runbook runs against the real schema in a READ ONLY transaction; a query
//! that writes is refused by PostgreSQL even when it slips past the loader.

use std::time::Duration;

use javari_core::runbooks::{Action, Catalogue, Source, SqlStepError, run_read_only};
use javari_testenv::workspace_root;
use sqlx::PgPool;

fn catalogue() -> Catalogue {
    Catalogue::load_dir(&workspace_root().join("runbooks")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_runbook_parses_and_the_seeds_playbooks_are_there() {
    let runbooks = catalogue();
    for id in [
        "api-down",
        "high-error-rate",
        "database-performance",
        "high-ai-cost",
        "provider-outage",
        "failed-deployment",
        "credential-compromise",
        "operator-reconcile-failures",
        "operator-leader-lost",
        "credential-rotation-failed",
        "credential-expiring",
    ] {
        let r = runbooks
            .get(id)
            .unwrap_or_else(|| panic!("runbook {id} missing"));
        assert!(!r.steps.is_empty());
    }
    let kinds = |id: &str| -> Vec<&'static str> {
        runbooks
            .get(id)
            .map(|r| {
                r.steps
                    .iter()
                    .map(|s| match s.action {
                        Action::Manual { .. } => "manual",
                        Action::Http { .. } => "http",
                        Action::Sql { .. } => "sql",
                        Action::Kube(_) => "kube",
                        Action::Verify { .. } => "verify",
                        Action::Approval { .. } => "approval",
                        Action::Notify { .. } => "notify",
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        kinds("api-down"),
        ["verify", "sql", "approval", "kube", "verify", "manual"]
    );
    assert!(kinds("provider-outage").contains(&"notify"));
    assert!(kinds("credential-compromise").contains(&"kube"));

    // An incident suggests the runbooks whose triggers name its source.
    let ids = |source| -> Vec<String> {
        runbooks
            .suggest(source)
            .iter()
            .map(|r| r.meta.id.clone())
            .collect()
    };
    assert!(ids(Source::Provider("openai")).contains(&"provider-outage".to_owned()));
    assert!(ids(Source::Monitor("postgres-main")).contains(&"database-performance".to_owned()));
    assert!(!ids(Source::Monitor("web")).contains(&"database-performance".to_owned()));
    assert!(ids(Source::Credential("db-password")).contains(&"credential-compromise".to_owned()));
}

#[test]
fn a_runbook_that_does_not_parse_fails_the_catalogue_with_its_file_and_line() {
    let dir = std::env::temp_dir().join(format!("javari-runbooks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("bad.md"),
        "---\nid: bad\ntitle: Bad\nseverities: [P1]\n---\n# Bad\n## 1. Drop\n```javari\nkind: sql\nquery: DROP TABLE javari_users\n```\n",
    )
    .expect("write");
    let e = Catalogue::load_dir(&dir).expect_err("refused").to_string();
    assert!(
        e.contains("bad.md") && e.contains("line 7") && e.contains("only read"),
        "{e}"
    );
    std::fs::write(
        dir.join("bad.md"),
        "---\nid: other\ntitle: Bad\nseverities: [P1]\n---\n# Bad\n## 1. Look\n",
    )
    .expect("write");
    let e = Catalogue::load_dir(&dir).expect_err("refused").to_string();
    assert!(e.contains("differs from the file name"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_binary_ships_every_runbook_of_the_repository() {
    let folder = catalogue();
    let builtin = Catalogue::builtin().unwrap_or_else(|e| panic!("{e}"));
    let ids = |c: &Catalogue| c.iter().map(|r| r.meta.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&builtin), ids(&folder));
    assert!(
        builtin.iter().eq(folder.iter()),
        "built-in runbooks differ from runbooks/"
    );

    // A folder adds runbooks and replaces a built-in one of the same id.
    let dir = std::env::temp_dir().join(format!("javari-runbooks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("api-down.md"),
        "---\nid: api-down\ntitle: Our own API-down\nseverities: [P0]\n---\n# Ours\n## 1. Look\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("extra.md"),
        "---\nid: extra\ntitle: Extra\nseverities: [P3]\n---\n# Extra\n## 1. Look\n",
    )
    .expect("write");
    let both = Catalogue::builtin_and(Some(&dir)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(both.len(), builtin.len() + 1);
    assert_eq!(
        both.get("api-down").map(|r| r.meta.title.as_str()),
        Some("Our own API-down")
    );
    assert!(both.get("extra").is_some());
    std::fs::remove_dir_all(&dir).ok();
}

/// Sample values for every placeholder the runbooks use.
fn sample(name: &str) -> Option<String> {
    Some(
        match name {
            "namespace" => "prod",
            "project" => "web",
            "monitor" => "web-health",
            "provider" => "openai",
            "credential" => "db-password",
            "policy" => "prod/platform-db",
            "incident.id" => "00000000-0000-0000-0000-000000000000",
            "incident.title" => "Outage",
            "incident.severity" => "P0",
            _ => return None,
        }
        .to_owned(),
    )
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn every_sql_step_runs_read_only_against_the_schema(pool: PgPool) {
    let runbooks = catalogue();
    let mut ran = 0;
    for r in runbooks.iter() {
        for step in &r.steps {
            if let Action::Sql { query, row_limit } = &step.action {
                let table = run_read_only(&pool, query, &sample, step.timeout, *row_limit)
                    .await
                    .unwrap_or_else(|e| panic!("{} step {}: {e}", r.meta.id, step.number));
                assert!(
                    !table.columns.is_empty(),
                    "{} step {}",
                    r.meta.id,
                    step.number
                );
                assert!(table.rows.len() <= *row_limit as usize);
                ran += 1;
            }
        }
    }
    assert!(ran >= 12, "only {ran} sql steps");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn sql_steps_cannot_write_time_out_and_are_cut_at_the_row_limit(pool: PgPool) {
    let none = |_: &str| None;
    sqlx::query(
        "INSERT INTO javari_incidents (dedup_key, title, severity) VALUES ('k', 't', 'P1')",
    )
    .execute(&pool)
    .await
    .expect("seed an incident");
    // These start with words the loader accepts; PostgreSQL refuses the write each one hides.
    for sneaky in [
        "EXPLAIN ANALYZE DELETE FROM javari_incidents",
        "SELECT nextval('javari_health_checks_id_seq')",
        "WITH gone AS (DELETE FROM javari_incidents RETURNING id) SELECT count(*) FROM gone",
    ] {
        let e = run_read_only(&pool, sneaky, &none, Duration::from_secs(5), 10)
            .await
            .expect_err("refused");
        let text = e.to_string();
        assert!(
            text.contains("read-only transaction") || text.contains("data-modifying"),
            "{sneaky}: {text}"
        );
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_incidents")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 1, "nothing was deleted");

    let e = run_read_only(
        &pool,
        "UPDATE javari_settings SET value = '{}'",
        &none,
        Duration::from_secs(5),
        10,
    )
    .await
    .expect_err("refused");
    assert!(matches!(e, SqlStepError::Refused(_)), "{e}");

    let e = run_read_only(
        &pool,
        "SELECT pg_sleep(5)",
        &none,
        Duration::from_millis(200),
        10,
    )
    .await
    .expect_err("timed out");
    assert!(e.to_string().contains("statement timeout"), "{e}");

    let table = run_read_only(
        &pool,
        "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, 50) g",
        &none,
        Duration::from_secs(5),
        20,
    )
    .await
    .expect("runs");
    assert_eq!(table.columns, ["n", "label"]);
    assert_eq!(table.rows.len(), 20);
    assert!(table.truncated);
    assert_eq!(table.rows[0], ["1", "row 1"]);

    // A value is bound, never spliced into the SQL.
    let hostile = |_: &str| Some("x' OR '1'='1".to_owned());
    let table = run_read_only(
        &pool,
        "SELECT {{ namespace }}::text AS v",
        &hostile,
        Duration::from_secs(5),
        5,
    )
    .await
    .expect("runs");
    assert_eq!(table.rows, [["x' OR '1'='1"]]);

    let explain = run_read_only(&pool, "EXPLAIN SELECT 1", &none, Duration::from_secs(5), 5)
        .await
        .expect("explain");
    assert!(explain.rows[0][0].contains("Result"));
}
