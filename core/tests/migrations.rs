//! The shared schema on a real PostgreSQL: up, down, up again; the named tables exist and
//! row-level security is on where rows belong to a user.

use javari_core::db::MIGRATOR;
use sqlx::PgPool;

const TABLES: &[&str] = &[
    "javari_users",
    "javari_sessions",
    "javari_api_keys",
    "javari_user_preferences",
    "javari_conversations",
    "javari_messages",
    "javari_conversation_summaries",
    "javari_knowledge_documents",
    "javari_document_chunks",
    "javari_credentials",
    "javari_credential_snapshots",
    "javari_credential_audit_log",
    "javari_projects",
    "javari_project_members",
    "javari_providers",
    "javari_provider_models",
    "javari_cost_tracking",
    "javari_health_checks",
    "javari_incidents",
    "javari_incident_events",
    "javari_auto_healing_incidents",
    "javari_build_health_tracking",
    "javari_backups",
    "javari_task_queue",
    "javari_settings",
    "javari_audit_log",
    "javari_web_crawls",
    "javari_web_crawl_runs",
    "javari_web_crawl_pages",
];

const USER_OWNED: &[&str] = &[
    "javari_sessions",
    "javari_api_keys",
    "javari_user_preferences",
    "javari_conversations",
    "javari_messages",
    "javari_conversation_summaries",
    "javari_knowledge_documents",
    "javari_document_chunks",
    "javari_cost_tracking",
    "javari_project_members",
    "javari_web_crawls",
    "javari_web_crawl_runs",
    "javari_web_crawl_pages",
];

async fn javari_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'javari%' ORDER BY 1")
        .fetch_all(pool)
        .await
        .expect("list tables")
}

#[sqlx::test(migrations = false)]
async fn migrations_go_up_down_and_up_again(pool: PgPool) {
    assert!(
        MIGRATOR.iter().count() >= 6,
        "expected the shared schema's migrations"
    );
    assert!(
        MIGRATOR.iter().all(|m| m.migration_type.is_reversible()),
        "every migration has a .down.sql"
    );

    MIGRATOR.run(&pool).await.expect("up");
    let after_up = javari_tables(&pool).await;
    for table in TABLES {
        assert!(
            after_up.iter().any(|t| t == table),
            "{table} missing after up; have {after_up:?}"
        );
    }

    MIGRATOR.undo(&pool, 0).await.expect("down");
    assert_eq!(
        javari_tables(&pool).await,
        Vec::<String>::new(),
        "down leaves no javari tables"
    );
    let functions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_proc WHERE proname LIKE 'javari%'")
            .fetch_one(&pool)
            .await
            .expect("count functions");
    assert_eq!(functions, 0, "down drops the helper functions");

    MIGRATOR.run(&pool).await.expect("up again");
    assert_eq!(javari_tables(&pool).await, after_up);
    // A second run is a no-op (both binaries run it at start).
    MIGRATOR.run(&pool).await.expect("idempotent");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn row_level_security_is_on_for_user_owned_tables(pool: PgPool) {
    let rls: Vec<(String, bool)> = sqlx::query_as(
        "SELECT relname::text, relrowsecurity FROM pg_class WHERE relkind = 'r' AND relname LIKE 'javari%'",
    )
    .fetch_all(&pool)
    .await
    .expect("pg_class");
    for table in USER_OWNED {
        let flag = rls
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, on)| *on);
        assert_eq!(
            flag,
            Some(true),
            "{table} must have row-level security enabled"
        );
    }
    let policies: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT tablename) FROM pg_policies WHERE tablename LIKE 'javari%'",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_policies");
    assert!(
        policies >= USER_OWNED.len() as i64,
        "each RLS table has a policy"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn indexes_follow_the_naming_convention(pool: PgPool) {
    let bad: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename LIKE 'javari%' \
         AND indexname NOT LIKE 'idx_%' AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'",
    )
    .fetch_all(&pool)
    .await
    .expect("pg_indexes");
    assert!(
        bad.is_empty(),
        "indexes not named idx_{{table}}_{{cols}}: {bad:?}"
    );
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn updated_at_moves_on_update(pool: PgPool) {
    sqlx::query("INSERT INTO javari_settings (key, value) VALUES ('theme', '\"dark\"')")
        .execute(&pool)
        .await
        .expect("insert");
    let before: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT updated_at FROM javari_settings WHERE key = 'theme'")
            .fetch_one(&pool)
            .await
            .expect("read");
    sqlx::query("UPDATE javari_settings SET value = '\"light\"' WHERE key = 'theme'")
        .execute(&pool)
        .await
        .expect("update");
    let after: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT updated_at FROM javari_settings WHERE key = 'theme'")
            .fetch_one(&pool)
            .await
            .expect("read");
    assert!(after > before, "updated_at trigger: {before} -> {after}");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn vector_search_column_exists_where_pgvector_is_installed(pool: PgPool) {
    let available: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
    )
    .fetch_one(&pool)
    .await
    .expect("extensions");
    let column: Option<String> = sqlx::query_scalar(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'javari_document_chunks'::regclass AND attname = 'embedding' AND NOT attisdropped",
    )
    .fetch_optional(&pool)
    .await
    .expect("attribute");
    let tsv_index: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'javari_document_chunks' AND indexdef ILIKE '%USING gin%')",
    )
    .fetch_one(&pool)
    .await
    .expect("indexes");
    assert!(
        tsv_index,
        "full-text search needs a GIN index on the chunks"
    );
    if available {
        assert_eq!(column.as_deref(), Some("vector(1536)"));
        let hnsw: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'javari_document_chunks' AND indexdef ILIKE '%USING hnsw%')",
        )
        .fetch_one(&pool)
        .await
        .expect("indexes");
        assert!(hnsw, "HNSW index on the embeddings");
    } else {
        assert_eq!(column, None, "no vector column without pgvector");
    }
}
