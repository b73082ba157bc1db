use std::time::Duration;

use javari_crds::common::Severity;

use super::*;

const GOOD: &str = r#"---
id: provider-outage
title: An AI provider is down
severities: [P1, P2]
triggers:
  providers: ["*"]
  monitors: [provider-*]
parameters:
  provider: {description: The Provider that fails}
---

# An AI provider is down

Chat falls back by itself; this moves traffic away for good.

## 1. Look at the provider's errors

```sql
-- shown, not run
SELECT 1;
```

## 2. Count recent failures

```javari
kind: sql
query: |
  SELECT provider, count(*) FROM javari_provider_performance
  WHERE created_at > now() - interval '15 minutes' GROUP BY provider
row_limit: 20
```

## 3. Approve the failover

```javari
kind: approval
```

## 4. Fail over

```javari
kind: kube
action: failover-provider
provider: "{{ provider }}"
retries: 2
on_failure: continue
```

## 5. Tell the channel

```javari
kind: notify
webhook: https://hooks.example.invalid/T000
text: "{{ provider }} failed over for {{ incident.id }}"
timeout: 10s
```
"#;

#[test]
fn parses_every_kind_with_defaults() {
    let r = load(GOOD).expect("valid");
    assert_eq!(r.meta.id, "provider-outage");
    assert_eq!(r.meta.severities, vec![Severity::P1, Severity::P2]);
    assert!(r.summary.starts_with("Chat falls back"));
    assert_eq!(r.steps.len(), 5);

    let manual = &r.steps[0];
    assert_eq!(manual.title, "Look at the provider's errors");
    assert_eq!(manual.action, Action::Manual { checklist: vec![] });
    assert!(
        manual.instructions.contains("SELECT 1;"),
        "shown blocks stay prose"
    );
    assert_eq!(manual.timeout, Duration::from_secs(1800));

    match &r.steps[1].action {
        Action::Sql { query, row_limit } => {
            assert!(query.starts_with("SELECT provider"));
            assert_eq!(*row_limit, 20);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.steps[1].timeout, Duration::from_secs(10));
    assert_eq!(r.steps[2].action, Action::Approval { approvers: 1 });
    assert_eq!(
        r.steps[3].action,
        Action::Kube(KubeAction::FailoverProvider {
            provider: "{{ provider }}".into()
        })
    );
    assert_eq!(r.steps[3].retries, 2);
    assert_eq!(r.steps[3].on_failure, OnFailure::Continue);
    assert_eq!(r.steps[4].timeout, Duration::from_secs(10));

    let changing: Vec<usize> = r
        .steps
        .iter()
        .filter(|s| s.changes_something())
        .map(|s| s.number)
        .collect();
    assert_eq!(changing, vec![4, 5], "kube and notify ask for confirmation");
}

fn refused(text: &str) -> RunbookError {
    load(text).expect_err("must be refused")
}

fn with_step(block: &str) -> String {
    format!(
        "---\nid: x\ntitle: X\nseverities: [P2]\n---\n\n# X\n\n## 1. Do it\n\n```javari\n{block}\n```\n"
    )
}

#[test]
fn sql_that_writes_is_refused_when_loaded() {
    for query in [
        "UPDATE javari_users SET role = 'admin'",
        "DELETE FROM javari_incidents",
        "SELECT 1; DROP TABLE javari_users",
        "  insert into t values (1)",
    ] {
        let e = refused(&with_step(&format!("kind: sql\nquery: \"{query}\"")));
        assert!(
            e.message.contains("only read") || e.message.contains("one statement"),
            "{query}: {e}"
        );
        assert_eq!(e.line, 9, "the step's heading line");
    }
    assert!(
        load(&with_step(
            "kind: sql\nquery: WITH a AS (SELECT 1) SELECT * FROM a"
        ))
        .is_ok()
    );
    assert!(load(&with_step("kind: sql\nquery: EXPLAIN SELECT 1")).is_ok());
}

#[test]
fn kube_actions_outside_the_allow_list_are_refused() {
    let e = refused(&with_step(
        "kind: kube\naction: delete-namespace\nname: prod",
    ));
    assert!(e.message.contains("delete-namespace"), "{e}");
    let e = refused(&with_step(
        "kind: kube\naction: rollback-project\nproject: api\nnamespace: other",
    ));
    assert!(e.message.contains("namespace"), "unknown field named: {e}");
}

#[test]
fn bounds_and_shapes_are_checked() {
    let cases = [
        ("kind: sql\nquery: SELECT 1\nrow_limit: 5000", "row_limit"),
        ("kind: http\nurl: https://x\ntimeout: 2h", "timeout"),
        ("kind: http\nurl: file:///etc/passwd", "http(s)"),
        (
            "kind: http\nurl: https://x\nexpect_status: 42",
            "expect_status",
        ),
        ("kind: verify\nmonitor: api\nretries: 9", "retries"),
        ("kind: verify\nmonitor: api\nbackoff: 2m", "backoff"),
        ("kind: approval\napprovers: 0", "approvers"),
        ("kind: teleport", "unknown variant"),
        ("kind: verify", "monitor"),
        (
            "kind: http\nurl: https://x\ntimeout: soon",
            "invalid duration",
        ),
        ("kind: verify\nmonitor: \"{{ nope }}\"", "nope"),
        ("kind: verify\nmonitor: \"{{ api\"", "unclosed"),
        ("- not a mapping", "YAML mapping"),
    ];
    for (block, needle) in cases {
        let e = refused(&with_step(block));
        assert!(e.message.contains(needle), "{block}: {e}");
    }
}

#[test]
fn structure_errors_name_their_line() {
    let e = refused("# no front matter\n");
    assert_eq!(e.line, 1);
    let e = refused("---\nid: x\ntitle: X\nseverities: [P9]\n---\n# X\n## 1. A\n");
    assert!(e.message.contains("P9"), "{e}");
    let e = refused("---\nid: x\ntitle: X\nseverities: [P1]\n---\n# X\n## 1. A\n## 3. C\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (8, "step numbered 3, expected 2")
    );
    let e = refused(
        "---\nid: x\ntitle: X\nseverities: [P1]\n---\n# X\n## 1. A\n```javari\nkind: manual\n",
    );
    assert!(e.message.contains("never closed"));
    let e = refused("---\nid: x\ntitle: X\nseverities: [P1]\nowner: me\n---\n# X\n## 1. A\n");
    assert!(
        e.message.contains("owner"),
        "unknown front matter refused: {e}"
    );
    let e = refused("---\nid: Bad_Id\ntitle: X\nseverities: [P1]\n---\n# X\n## 1. A\n");
    assert!(e.message.contains("Bad_Id"));
    let e = refused("---\nid: x\ntitle: X\nseverities: [P1]\n---\n# X\nno steps\n");
    assert!(e.message.contains("at least one"));
}

#[test]
fn headings_inside_code_blocks_are_not_steps() {
    let text =
        "---\nid: x\ntitle: X\nseverities: [P3]\n---\n# X\n## 1. Read\n```sh\n## not a step\n```\n";
    let r = load(text).expect("valid");
    assert_eq!(r.steps.len(), 1);
    assert!(r.steps[0].instructions.contains("## not a step"));
}

#[test]
fn placeholders_are_found() {
    assert_eq!(
        placeholders("{{ a }}-{{b.c}}").expect("ok"),
        vec!["a", "b.c"]
    );
    assert!(placeholders("{{ a b }}").is_err());
}

#[test]
fn sql_placeholders_become_bind_parameters() {
    let (sql, names) = bind_placeholders(
        "SELECT * FROM t WHERE a = {{ monitor }} AND b = {{namespace}} OR c = {{ monitor }}",
    )
    .expect("ok");
    assert_eq!(sql, "SELECT * FROM t WHERE a = $1 AND b = $2 OR c = $1");
    assert_eq!(names, vec!["monitor", "namespace"]);
}

#[test]
fn retries_wait_longer_each_time_up_to_a_cap() {
    let r = super::load(&with_step(
        "kind: verify\nmonitor: api\nretries: 5\nbackoff: 20s",
    ))
    .expect("valid");
    let step = &r.steps[0];
    let waits: Vec<u64> = (1..=6).map(|n| step.delay_before(n).as_secs()).collect();
    assert_eq!(waits, [0, 20, 40, 60, 60, 60]);

    let r = super::load(&with_step("kind: verify\nmonitor: api\nretries: 2")).expect("valid");
    assert_eq!(r.steps[0].delay_before(2), super::DEFAULT_BACKOFF);
}
