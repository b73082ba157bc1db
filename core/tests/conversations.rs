//! Conversations on a real PostgreSQL: listing and search, stars and statuses, child
//! conversations, recording exchanges with their totals and cost rows, bounded context with
//! rolling summaries, and monthly budgets.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use javari_core::conversations::{
    self as conv, BudgetState, ConversationError, Exchange, ListQuery, NewConversation,
};
use sqlx::PgPool;
use uuid::Uuid;

async fn user(pool: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO javari_users (email) VALUES ($1) RETURNING id")
        .bind(email)
        .fetch_one(pool)
        .await
        .expect("insert user")
}

async fn project(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO javari_projects (namespace, name) VALUES ('prod', $1) RETURNING id",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .expect("insert project")
}

async fn provider(pool: &PgPool) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO javari_providers (namespace, name, provider_type)
         VALUES ('prod', 'openai', 'openai') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("insert provider")
}

async fn titled(pool: &PgPool, user_id: Uuid, title: &str) -> conv::Conversation {
    conv::create(
        pool,
        user_id,
        NewConversation {
            title: Some(title.to_owned()),
            ..NewConversation::default()
        },
    )
    .await
    .expect("create conversation")
}

fn at(day: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 10, minute, 0)
        .single()
        .expect("valid time")
}

fn exchange<'a>(
    user_id: Uuid,
    conversation_id: Uuid,
    question: &'a str,
    answer: &'a str,
    now: DateTime<Utc>,
) -> Exchange<'a> {
    Exchange {
        user_id,
        conversation_id,
        user_message: question,
        answer,
        provider_id: None,
        provider: "openai",
        model: "gpt-4o-mini",
        input_tokens: 100,
        output_tokens: 50,
        cost_usd: 0.25,
        latency_ms: 800,
        truncated: false,
        error: None,
        citations: serde_json::json!([]),
        task_type: "chat",
        now,
    }
}

fn ids(rows: &[conv::Conversation]) -> Vec<Uuid> {
    rows.iter().map(|c| c.id).collect()
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn list_pages_newest_first_with_total_and_only_own_rows(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let bob = user(&pool, "bob@example.com").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(titled(&pool, alice, &format!("Conversation {i}")).await.id);
    }
    titled(&pool, bob, "Bob's own").await;

    let q = ListQuery {
        limit: 3,
        ..ListQuery::default()
    };
    let (page1, total) = conv::list(&pool, alice, &q).await.expect("page 1");
    assert_eq!(total, 7);
    let newest: Vec<Uuid> = created.iter().rev().copied().collect();
    assert_eq!(ids(&page1), newest[..3]);
    let (page3, total) = conv::list(
        &pool,
        alice,
        &ListQuery {
            limit: 3,
            offset: 6,
            ..ListQuery::default()
        },
    )
    .await
    .expect("page 3");
    assert_eq!((ids(&page3), total), (vec![created[0]], 7));

    // Activity moves a conversation to the top.
    conv::record_exchange(
        &pool,
        &exchange(alice, created[0], "hi", "hello", Utc::now()),
    )
    .await
    .expect("exchange");
    let (page1, _) = conv::list(&pool, alice, &q).await.expect("page 1 again");
    assert_eq!(page1[0].id, created[0]);

    let (bobs, total) = conv::list(&pool, bob, &ListQuery::default())
        .await
        .expect("bob");
    assert_eq!((bobs.len(), total), (1, 1));
    assert!(bobs.iter().all(|c| c.user_id == bob));
    // Someone else's conversation is invisible to every single-row call too.
    assert!(
        conv::get(&pool, bob, created[0])
            .await
            .expect("get")
            .is_none()
    );
    assert!(matches!(
        conv::set_starred(&pool, bob, created[0], true).await,
        Err(ConversationError::NotFound)
    ));
    assert!(matches!(
        conv::messages(&pool, bob, created[0], 50, None).await,
        Err(ConversationError::NotFound)
    ));
    assert!(matches!(
        conv::record_exchange(&pool, &exchange(bob, created[0], "q", "a", Utc::now())).await,
        Err(ConversationError::NotFound)
    ));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn search_finds_words_in_titles_and_in_messages_only(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let bob = user(&pool, "bob@example.com").await;
    let by_title = titled(&pool, alice, "Kubernetes rollout strategy").await;
    let by_message = titled(&pool, alice, "Untitled chat").await;
    titled(&pool, alice, "Lunch plans").await;
    conv::record_exchange(
        &pool,
        &exchange(
            alice,
            by_message.id,
            "Our certificates are expiring next week",
            "Rotate them with the credential controller.",
            Utc::now(),
        ),
    )
    .await
    .expect("exchange");
    // Bob talks about certificates too, but his rows never show up for Alice.
    let bobs = titled(&pool, bob, "Certificate renewals").await;
    conv::record_exchange(
        &pool,
        &exchange(bob, bobs.id, "certificate expiry?", "soon", Utc::now()),
    )
    .await
    .expect("bob's exchange");

    let search = |s: &str| ListQuery {
        search: Some(s.to_owned()),
        ..ListQuery::default()
    };
    // Stemmed full text over message contents: "certificate" matches "certificates".
    let (rows, total) = conv::list(&pool, alice, &search("certificate"))
        .await
        .expect("search message");
    assert_eq!((ids(&rows), total), (vec![by_message.id], 1));
    // Only in the assistant's answer.
    let (rows, _) = conv::list(&pool, alice, &search("controller"))
        .await
        .expect("search answer");
    assert_eq!(ids(&rows), vec![by_message.id]);
    let (rows, _) = conv::list(&pool, alice, &search("kubernetes rollouts"))
        .await
        .expect("search title");
    assert_eq!(ids(&rows), vec![by_title.id]);
    // A fragment full text cannot match is found by the title fallback.
    let (rows, _) = conv::list(&pool, alice, &search("kuber"))
        .await
        .expect("search fragment");
    assert_eq!(ids(&rows), vec![by_title.id]);
    let (rows, total) = conv::list(&pool, alice, &search("nothing-like-this"))
        .await
        .expect("search miss");
    assert!(rows.is_empty());
    assert_eq!(total, 0);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn star_status_and_project_filters(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let web = project(&pool, "web").await;
    let a = titled(&pool, alice, "a").await;
    let b = titled(&pool, alice, "b").await;
    let c = conv::create(
        &pool,
        alice,
        NewConversation {
            id: None,
            title: None,
            project_id: Some(web),
            parent_id: None,
        },
    )
    .await
    .expect("create in project");
    assert_eq!(c.title, "New conversation");
    assert_eq!(c.status, "active");

    let starred = conv::set_starred(&pool, alice, a.id, true)
        .await
        .expect("star");
    assert!(starred.starred);
    let (rows, total) = conv::list(
        &pool,
        alice,
        &ListQuery {
            starred: Some(true),
            ..ListQuery::default()
        },
    )
    .await
    .expect("starred");
    assert_eq!((ids(&rows), total), (vec![a.id], 1));

    let paused = conv::set_status(&pool, alice, b.id, "paused")
        .await
        .expect("pause");
    assert_eq!(paused.status, "paused");
    assert!(matches!(
        conv::set_status(&pool, alice, b.id, "bogus").await,
        Err(ConversationError::InvalidStatus(s)) if s == "bogus"
    ));
    assert!(matches!(
        conv::list(
            &pool,
            alice,
            &ListQuery {
                status: Some("bogus".into()),
                ..ListQuery::default()
            }
        )
        .await,
        Err(ConversationError::InvalidStatus(_))
    ));
    let status = |s: &str| ListQuery {
        status: Some(s.to_owned()),
        ..ListQuery::default()
    };
    let (rows, _) = conv::list(&pool, alice, &status("paused"))
        .await
        .expect("paused");
    assert_eq!(ids(&rows), vec![b.id]);

    // Deleted conversations are hidden unless asked for.
    conv::set_status(&pool, alice, a.id, "deleted")
        .await
        .expect("delete");
    let (rows, total) = conv::list(&pool, alice, &ListQuery::default())
        .await
        .expect("all");
    assert_eq!(total, 2);
    assert!(!ids(&rows).contains(&a.id));
    let (rows, _) = conv::list(&pool, alice, &status("deleted"))
        .await
        .expect("deleted");
    assert_eq!(ids(&rows), vec![a.id]);

    let (rows, total) = conv::list(
        &pool,
        alice,
        &ListQuery {
            project_id: Some(web),
            ..ListQuery::default()
        },
    )
    .await
    .expect("project");
    assert_eq!((ids(&rows), total), (vec![c.id], 1));

    let renamed = conv::rename(&pool, alice, b.id, "  Incident review ")
        .await
        .expect("rename");
    assert_eq!(renamed.title, "Incident review");
    assert!(matches!(
        conv::rename(&pool, alice, b.id, "  ").await,
        Err(ConversationError::EmptyTitle)
    ));
    assert!(matches!(
        conv::create(
            &pool,
            alice,
            NewConversation {
                project_id: Some(Uuid::new_v4()),
                ..NewConversation::default()
            }
        )
        .await,
        Err(ConversationError::UnknownProject(_))
    ));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn child_conversation_carries_parent_context(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let mallory = user(&pool, "mallory@example.com").await;
    let web = project(&pool, "web").await;
    let parent = conv::create(
        &pool,
        alice,
        NewConversation {
            id: None,
            title: Some("Deploy failure".into()),
            project_id: Some(web),
            parent_id: None,
        },
    )
    .await
    .expect("parent");
    conv::record_exchange(
        &pool,
        &exchange(
            alice,
            parent.id,
            "The web deploy is failing health checks. What now?",
            "Roll back to the last known good revision. Then inspect the logs.",
            at(1, 0),
        ),
    )
    .await
    .expect("exchange");

    let child = conv::create(
        &pool,
        alice,
        NewConversation {
            id: None,
            title: Some("Follow-up".into()),
            project_id: None,
            parent_id: Some(parent.id),
        },
    )
    .await
    .expect("child");
    assert_eq!(child.parent_id, Some(parent.id));
    assert_eq!(child.project_id, Some(web));
    let summary = child.context_summary.expect("child summary");
    assert!(
        summary.contains("user: The web deploy is failing health checks."),
        "{summary}"
    );
    assert!(
        summary.contains("assistant: Roll back to the last known good revision."),
        "{summary}"
    );
    let window = conv::context(&pool, alice, child.id, 10)
        .await
        .expect("context");
    assert_eq!(window.summary.as_deref(), Some(summary.as_str()));
    assert!(window.recent.is_empty());

    // Someone else's conversation cannot be a parent.
    assert!(matches!(
        conv::create(
            &pool,
            mallory,
            NewConversation {
                parent_id: Some(parent.id),
                ..NewConversation::default()
            }
        )
        .await,
        Err(ConversationError::NotFound)
    ));
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn record_exchange_updates_totals_and_writes_cost_and_performance(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let provider_id = provider(&pool).await;
    let c = conv::create(&pool, alice, NewConversation::default())
        .await
        .expect("create");
    let citations = serde_json::json!([{"document_id": "d1", "chunk_index": 0}]);
    let ex = Exchange {
        provider_id: Some(provider_id),
        citations: citations.clone(),
        ..exchange(
            alice,
            c.id,
            "How do I rotate the database credential without downtime for the API servers?",
            "Use a grace period.",
            at(3, 0),
        )
    };
    let (question_id, answer_id) = conv::record_exchange(&pool, &ex).await.expect("record");

    let after = conv::get(&pool, alice, c.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        after.title,
        "How do I rotate the database credential without downtime for…"
    );
    assert_eq!(after.token_count, 150);
    assert!((after.total_cost - 0.25).abs() < 1e-9);
    assert_eq!(after.message_count, 2);
    assert_eq!(after.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(after.provider.as_deref(), Some("openai"));
    assert!(after.last_message_at.is_some());

    let messages = conv::messages(&pool, alice, c.id, 50, None)
        .await
        .expect("messages");
    assert_eq!(
        messages
            .iter()
            .map(|m| (m.id, m.role.as_str()))
            .collect::<Vec<_>>(),
        vec![(question_id, "user"), (answer_id, "assistant")]
    );
    let answer = &messages[1];
    assert_eq!(
        (answer.input_tokens, answer.output_tokens, answer.latency_ms),
        (100, 50, Some(800))
    );
    assert!((answer.cost - 0.25).abs() < 1e-9);
    assert!(!answer.truncated);
    assert_eq!(answer.citations, citations);
    assert_eq!(messages[0].citations, serde_json::json!([]));

    // A second exchange adds up, and does not rename a named conversation.
    conv::record_exchange(
        &pool,
        &exchange(alice, c.id, "Another question", "Another answer", at(3, 1)),
    )
    .await
    .expect("second");
    let after = conv::get(&pool, alice, c.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((after.token_count, after.message_count), (300, 4));
    assert!((after.total_cost - 0.5).abs() < 1e-9);
    assert!(after.title.starts_with("How do I rotate"));

    let cost_rows: Vec<(String, String, f64, String)> = sqlx::query_as(
        "SELECT billing_period, task_type, cost_usd::float8, model FROM javari_cost_tracking
         WHERE user_id = $1 AND conversation_id = $2 ORDER BY created_at",
    )
    .bind(alice)
    .bind(c.id)
    .fetch_all(&pool)
    .await
    .expect("cost rows");
    assert_eq!(cost_rows.len(), 2);
    assert_eq!(
        (cost_rows[0].0.as_str(), cost_rows[0].1.as_str()),
        ("2026-11", "chat")
    );
    let perf: Vec<(bool, Option<i32>, i32, String)> = sqlx::query_as(
        "SELECT success, latency_ms, output_tokens, task_type FROM javari_provider_performance
         WHERE provider_id = $1",
    )
    .bind(provider_id)
    .fetch_all(&pool)
    .await
    .expect("performance rows");
    // Only the first exchange named its provider.
    assert_eq!(perf, vec![(true, Some(800), 50, "chat".to_owned())]);
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn truncated_exchange_is_marked_and_free_one_not_billed(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let provider_id = provider(&pool).await;
    let c = titled(&pool, alice, "Streams").await;
    let ex = Exchange {
        provider_id: Some(provider_id),
        truncated: true,
        cost_usd: 0.0,
        input_tokens: 0,
        output_tokens: 0,
        ..exchange(alice, c.id, "Tell me everything", "Once upon", at(4, 0))
    };
    let (_, answer_id) = conv::record_exchange(&pool, &ex).await.expect("record");
    let messages = conv::messages(&pool, alice, c.id, 10, None)
        .await
        .expect("messages");
    let answer = messages
        .iter()
        .find(|m| m.id == answer_id)
        .expect("answer stored");
    assert!(answer.truncated);
    assert_eq!(answer.content, "Once upon");
    let costs: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_cost_tracking")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(costs, 0);
    let success: bool = sqlx::query_scalar(
        "SELECT success FROM javari_provider_performance WHERE provider_id = $1",
    )
    .bind(provider_id)
    .fetch_one(&pool)
    .await
    .expect("performance");
    assert!(!success);

    // A truncated answer that did cost something is billed; a failed one is a failure.
    let ex = Exchange {
        provider_id: Some(provider_id),
        truncated: true,
        error: Some("upstream closed the stream"),
        ..exchange(alice, c.id, "Again", "Part", at(4, 1))
    };
    conv::record_exchange(&pool, &ex).await.expect("record");
    let costs: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_cost_tracking")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(costs, 1);
    let messages = conv::messages(&pool, alice, c.id, 10, None)
        .await
        .expect("messages");
    assert_eq!(
        messages.last().and_then(|m| m.error.as_deref()),
        Some("upstream closed the stream")
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn context_is_summary_plus_last_messages_after_refresh(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let c = titled(&pool, alice, "Long one").await;
    let questions: Vec<String> = (0..15)
        .map(|i| format!("Question {i} about alerts. Details follow."))
        .collect();
    let answers: Vec<String> = (0..15)
        .map(|i| format!("Answer {i} on alerts. More text."))
        .collect();
    let start = at(5, 0);
    for i in 0..15 {
        conv::record_exchange(
            &pool,
            &exchange(
                alice,
                c.id,
                &questions[i],
                &answers[i],
                start + TimeDelta::seconds(i64::try_from(i).expect("small")),
            ),
        )
        .await
        .expect("exchange");
    }
    // 30 messages; without a summary the context is just the last ones.
    let window = conv::context(&pool, alice, c.id, 6).await.expect("context");
    assert_eq!(window.summary, None);
    assert_eq!(window.recent.len(), 6);

    assert!(
        conv::refresh_summary(&pool, alice, c.id, 6)
            .await
            .expect("refresh")
    );
    // Nothing new to fold.
    assert!(
        !conv::refresh_summary(&pool, alice, c.id, 6)
            .await
            .expect("refresh again")
    );

    let window = conv::context(&pool, alice, c.id, 6).await.expect("context");
    let recent: Vec<&str> = window.recent.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        recent,
        vec![
            questions[12].as_str(),
            answers[12].as_str(),
            questions[13].as_str(),
            answers[13].as_str(),
            questions[14].as_str(),
            answers[14].as_str(),
        ]
    );
    let summary = window.summary.expect("summary");
    assert!(
        summary.starts_with("user: Question 0 about alerts."),
        "{summary}"
    );
    assert!(
        summary.contains("assistant: Answer 11 on alerts."),
        "{summary}"
    );
    assert!(!summary.contains("Question 12"), "{summary}");
    assert!(!summary.contains("Details follow"), "first sentences only");
    assert_eq!(summary.lines().count(), 24);

    // Two more exchanges: the next refresh folds only what is new.
    for i in 15..17 {
        conv::record_exchange(
            &pool,
            &exchange(
                alice,
                c.id,
                &format!("Question {i}."),
                &format!("Answer {i}."),
                start + TimeDelta::seconds(i),
            ),
        )
        .await
        .expect("exchange");
    }
    assert!(
        conv::refresh_summary(&pool, alice, c.id, 6)
            .await
            .expect("refresh")
    );
    let window = conv::context(&pool, alice, c.id, 6).await.expect("context");
    let summary = window.summary.expect("summary");
    assert_eq!(summary.lines().count(), 28);
    assert!(
        summary.ends_with("assistant: Answer 13 on alerts."),
        "{summary}"
    );
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM javari_conversation_summaries WHERE conversation_id = $1",
    )
    .bind(c.id)
    .fetch_one(&pool)
    .await
    .expect("summaries");
    assert_eq!(rows, 2);

    // Paging backwards through the history.
    let page = conv::messages(&pool, alice, c.id, 4, None)
        .await
        .expect("page");
    assert_eq!(page.len(), 4);
    assert_eq!(page[3].content, "Answer 16.");
    let older = conv::messages(&pool, alice, c.id, 4, Some(page[0].created_at))
        .await
        .expect("older");
    assert!(older[3].created_at < page[0].created_at);
    assert_eq!(older[3].content, "Answer 14 on alerts. More text.");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn month_spend_and_budget(pool: PgPool) {
    let alice = user(&pool, "alice@example.com").await;
    let bob = user(&pool, "bob@example.com").await;
    let c = titled(&pool, alice, "Costs").await;
    let november = at(10, 0);
    for (minute, cost) in [(0, 3.0), (1, 5.5)] {
        let ex = Exchange {
            cost_usd: cost,
            ..exchange(alice, c.id, "q", "a", at(10, minute))
        };
        conv::record_exchange(&pool, &ex).await.expect("exchange");
    }
    let october = Utc
        .with_ymd_and_hms(2026, 10, 31, 23, 0, 0)
        .single()
        .expect("time");
    let ex = Exchange {
        cost_usd: 100.0,
        ..exchange(alice, c.id, "q", "a", october)
    };
    conv::record_exchange(&pool, &ex).await.expect("october");

    let spent = conv::month_spend(&pool, alice, november)
        .await
        .expect("spend");
    assert!((spent - 8.5).abs() < 1e-9);
    assert_eq!(
        conv::month_spend(&pool, bob, november).await.expect("bob"),
        0.0
    );

    assert_eq!(
        conv::monthly_budget(&pool, alice, None)
            .await
            .expect("budget"),
        None
    );
    assert_eq!(
        conv::monthly_budget(&pool, alice, Some(50.0))
            .await
            .expect("default"),
        Some(50.0)
    );
    conv::set_monthly_budget(&pool, alice, Some(10.0))
        .await
        .expect("set");
    let budget = conv::monthly_budget(&pool, alice, Some(50.0))
        .await
        .expect("own budget");
    assert_eq!(budget, Some(10.0));
    assert_eq!(
        conv::budget_state(spent, budget),
        BudgetState::Warning {
            spent: 8.5,
            budget: 10.0
        }
    );
    assert!(matches!(
        conv::set_monthly_budget(&pool, alice, Some(-1.0)).await,
        Err(ConversationError::InvalidBudget(_))
    ));
    conv::set_monthly_budget(&pool, alice, None)
        .await
        .expect("unset");
    assert_eq!(
        conv::monthly_budget(&pool, alice, Some(50.0))
            .await
            .expect("default again"),
        Some(50.0)
    );
    assert_eq!(conv::budget_state(spent, None), BudgetState::Unlimited);
}
