//! Row-level security as installed: the binaries' runtime role (a member of `javari_runtime`,
//! not the tables' owner, no BYPASSRLS) sees only the rows of the user its transaction acts
//! for, none without a user, and cannot turn the policies off.

use chrono::Utc;
use javari_core::conversations::{self, Exchange, NewConversation};
use javari_core::db::{Actor, begin, begin_as, runtime_identity};
use javari_core::knowledge::{self, NewDocument};
use sqlx::PgPool;
use uuid::Uuid;

async fn user(owner: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO javari_users (email, role) VALUES ($1, 'operator') RETURNING id",
    )
    .bind(email)
    .fetch_one(owner)
    .await
    .expect("user")
}

/// A conversation with one exchange, a knowledge document, a budget, a session and an API
/// token for `user`, written as the application writes them (the runtime role, as `user`),
/// except the session and token rows the console's sign-in writes.
async fn seed(owner: &PgPool, app: &PgPool, user: Uuid, label: &str) {
    let conversation = conversations::create(
        app,
        user,
        NewConversation {
            title: Some(format!("{label}'s conversation")),
            ..Default::default()
        },
    )
    .await
    .expect("conversation");
    conversations::record_exchange(
        app,
        &Exchange {
            user_id: user,
            conversation_id: conversation.id,
            user_message: &format!("{label} asks"),
            answer: &format!("{label} is answered"),
            provider_id: None,
            provider: "openai",
            model: "gpt-4-turbo-preview",
            input_tokens: 10,
            output_tokens: 20,
            cost_usd: 0.01,
            latency_ms: 5,
            truncated: false,
            error: None,
            citations: serde_json::json!([]),
            task_type: "chat",
            now: Utc::now(),
        },
    )
    .await
    .expect("exchange");
    knowledge::store_document(
        app,
        NewDocument {
            user_id: Some(user),
            project_id: None,
            filename: &format!("{label}.md"),
            title: None,
            bytes: format!("{label} keeps private notes about the deploy").as_bytes(),
        },
    )
    .await
    .expect("document");
    conversations::set_monthly_budget(app, user, Some(5.0))
        .await
        .expect("budget");
    for sql in [
        "INSERT INTO javari_sessions (user_id, token_hash, expires_at) \
         VALUES ($1, md5(random()::text), now() + interval '1 hour')",
        "INSERT INTO javari_api_keys (user_id, name, key_prefix, key_hash) \
         VALUES ($1, 'tests', 'jv_', md5(random()::text))",
    ] {
        sqlx::query(sql).bind(user).execute(owner).await.expect(sql);
    }
}

/// Every table whose rows belong to one user: it has a `user_id` column, or hangs off such a
/// table (messages, summaries, chunks, stream events).
async fn user_owned_tables(owner: &PgPool) -> Vec<String> {
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relkind = 'r' AND c.relname LIKE 'javari\\_%' AND c.relnamespace = current_schema()::regnamespace
           AND a.attname = 'user_id' AND NOT a.attisdropped
         ORDER BY 1",
    )
    .fetch_all(owner)
    .await
    .expect("tables");
    for child in [
        "javari_conversation_summaries",
        "javari_document_chunks",
        "javari_chat_stream_events",
    ] {
        tables.push(child.to_owned());
    }
    tables
}

async fn count_as(app: &PgPool, actor: Option<Actor>, table: &str) -> i64 {
    let mut tx = match actor {
        Some(actor) => begin(app, actor).await.expect("begin"),
        None => app.begin().await.expect("begin"),
    };
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut *tx)
        .await
        .expect(table);
    tx.commit().await.expect("commit");
    n
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_query_without_where_returns_only_the_callers_rows(owner: PgPool) {
    let app = javari_testenv::runtime_pool(&owner).await.expect("runtime");
    let alice = user(&owner, "alice@example.test").await;
    let bob = user(&owner, "bob@example.test").await;
    seed(&owner, &app, alice, "alice").await;
    seed(&owner, &app, bob, "bob").await;

    // The same query, no WHERE, as each user: their own rows only.
    let titles = |actor| {
        let app = app.clone();
        async move {
            let mut tx = begin_as(&app, actor).await.expect("begin");
            let titles: Vec<String> =
                sqlx::query_scalar("SELECT title FROM javari_conversations ORDER BY title")
                    .fetch_all(&mut *tx)
                    .await
                    .expect("titles");
            let messages: Vec<String> =
                sqlx::query_scalar("SELECT content FROM javari_messages ORDER BY content")
                    .fetch_all(&mut *tx)
                    .await
                    .expect("messages");
            tx.commit().await.expect("commit");
            (titles, messages)
        }
    };
    assert_eq!(
        titles(alice).await,
        (
            vec!["alice's conversation".to_owned()],
            vec!["alice asks".to_owned(), "alice is answered".to_owned()]
        )
    );
    assert_eq!(
        titles(bob).await,
        (
            vec!["bob's conversation".to_owned()],
            vec!["bob asks".to_owned(), "bob is answered".to_owned()]
        )
    );

    for table in user_owned_tables(&owner).await {
        let everyone: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&owner)
                .await
                .expect(&table);
        let as_alice = count_as(&app, Some(Actor::User(alice)), &table).await;
        let as_bob = count_as(&app, Some(Actor::User(bob)), &table).await;
        let as_nobody = count_as(&app, None, &table).await;
        assert_eq!(as_nobody, 0, "{table}: no user set, no rows");
        assert_eq!(
            as_alice + as_bob,
            everyone,
            "{table}: each user sees their own rows and only those"
        );
        if everyone > 0 {
            assert!(
                as_alice > 0 && as_bob > 0 && as_alice < everyone,
                "{table}: alice {as_alice}, bob {as_bob} of {everyone}"
            );
        }
    }
    // Tables seeded above, so the loop compared real rows.
    for table in [
        "javari_conversations",
        "javari_messages",
        "javari_cost_tracking",
        "javari_knowledge_documents",
        "javari_document_chunks",
        "javari_user_preferences",
        "javari_sessions",
        "javari_api_keys",
    ] {
        assert!(
            count_as(&app, Some(Actor::User(alice)), table).await > 0,
            "{table} seeded"
        );
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_user_cannot_write_rows_for_another(owner: PgPool) {
    let app = javari_testenv::runtime_pool(&owner).await.expect("runtime");
    let alice = user(&owner, "alice@example.test").await;
    let bob = user(&owner, "bob@example.test").await;
    let mut tx = begin_as(&app, alice).await.expect("begin");
    let refused = sqlx::query("INSERT INTO javari_conversations (user_id, title) VALUES ($1, 'x')")
        .bind(bob)
        .execute(&mut *tx)
        .await
        .expect_err("alice may not create bob's conversation");
    assert!(
        refused.to_string().contains("row-level security"),
        "{refused}"
    );
    drop(tx);

    // Without a user, nothing is written either.
    let refused = sqlx::query("INSERT INTO javari_conversations (user_id, title) VALUES ($1, 'x')")
        .bind(alice)
        .execute(&app)
        .await
        .expect_err("no user, no row");
    assert!(
        refused.to_string().contains("row-level security"),
        "{refused}"
    );

    // Bob's conversation is out of alice's reach for updates and deletes: no rows touched.
    let bobs = conversations::create(&app, bob, NewConversation::default())
        .await
        .expect("bob's conversation");
    let mut tx = begin_as(&app, alice).await.expect("begin");
    let touched = sqlx::query("UPDATE javari_conversations SET title = 'mine' WHERE id = $1")
        .bind(bobs.id)
        .execute(&mut *tx)
        .await
        .expect("update")
        .rows_affected();
    let deleted = sqlx::query("DELETE FROM javari_conversations")
        .execute(&mut *tx)
        .await
        .expect("delete")
        .rows_affected();
    tx.commit().await.expect("commit");
    assert_eq!((touched, deleted), (0, 0));
    assert!(
        conversations::get(&app, bob, bobs.id)
            .await
            .expect("get")
            .is_some_and(|c| c.title != "mine")
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn the_runtime_role_cannot_turn_row_level_security_off(owner: PgPool) {
    let app = javari_testenv::runtime_pool(&owner).await.expect("runtime");
    let who = runtime_identity(&app).await.expect("identity");
    assert_eq!(who.role, javari_testenv::RUNTIME_LOGIN);
    assert!(!who.superuser, "the binaries' role is not a superuser");
    assert!(!who.bypass_rls, "the binaries' role has no BYPASSRLS");
    assert!(
        !who.owns_tables,
        "the binaries' role does not own the tables"
    );
    assert!(who.enforced());
    let group: (bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'javari_runtime'",
    )
    .fetch_one(&owner)
    .await
    .expect("javari_runtime");
    assert_eq!(group, (false, false));

    for sql in [
        "ALTER TABLE javari_conversations NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE javari_conversations DISABLE ROW LEVEL SECURITY",
        "DROP POLICY javari_conversations_owner ON javari_conversations",
        "CREATE POLICY everything ON javari_conversations USING (true)",
        "SET row_security = off; SELECT * FROM javari_conversations",
    ] {
        let refused = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&app)
            .await
            .expect_err(sql);
        let text = refused.to_string();
        assert!(
            text.contains("must be owner") || text.contains("row-level security"),
            "{sql}: {text}"
        );
    }
    // The migration history is the owner's.
    assert!(
        sqlx::query("SELECT * FROM _sqlx_migrations")
            .execute(&app)
            .await
            .is_err()
    );

    // Every user-owned table is FORCEd, so not even the owner's role slips through.
    for table in user_owned_tables(&owner).await {
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
        )
        .bind(&table)
        .fetch_one(&owner)
        .await
        .expect(&table);
        assert!(
            enabled && forced,
            "{table} holds one user's rows: ENABLE and FORCE ROW LEVEL SECURITY with a policy on javari_current_user_id()"
        );
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn admin_pages_see_everyones_tokens_only_as_admin(owner: PgPool) {
    let app = javari_testenv::runtime_pool(&owner).await.expect("runtime");
    let alice = user(&owner, "alice@example.test").await;
    let bob = user(&owner, "bob@example.test").await;
    seed(&owner, &app, alice, "alice").await;
    seed(&owner, &app, bob, "bob").await;
    assert_eq!(
        count_as(&app, Some(Actor::User(alice)), "javari_api_keys").await,
        1
    );
    assert_eq!(
        count_as(&app, Some(Actor::Admin(alice)), "javari_api_keys").await,
        2
    );
    // The admin policy opens tokens, not conversations.
    assert_eq!(
        count_as(&app, Some(Actor::Admin(alice)), "javari_conversations").await,
        1
    );
    // Platform tables stay readable without a user (the operator and the schedules).
    sqlx::query("SELECT count(*) FROM javari_providers")
        .execute(&app)
        .await
        .expect("providers without a user");
    let total: f64 = sqlx::query_scalar("SELECT javari_platform_cost_usd('-infinity', 'infinity')")
        .fetch_one(&app)
        .await
        .expect("platform cost");
    assert!((total - 0.02).abs() < 1e-9, "{total}");
    let costs: i64 = sqlx::query_scalar("SELECT count(*) FROM javari_platform_costs")
        .fetch_one(&app)
        .await
        .expect("platform costs view");
    assert_eq!(costs, 2);
}
