//! `javari_projects` and the auto-healing record of each rollback.

use sqlx::PgPool;
use uuid::Uuid;

/// What the console shows of a Project.
pub struct ProjectRow<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub github: Option<(&'a str, &'a str, &'a str)>,
    pub image: &'a str,
    pub deployed_image: Option<&'a str>,
    pub deployed_commit: Option<&'a str>,
    pub last_known_good: Option<&'a str>,
    pub health: &'a str,
}

pub async fn upsert_project(pool: &PgPool, p: &ProjectRow<'_>) -> Result<Uuid, sqlx::Error> {
    let (owner, repo, branch) = p
        .github
        .map_or((None, None, None), |(o, r, b)| (Some(o), Some(r), Some(b)));
    sqlx::query_scalar(
        "INSERT INTO javari_projects (namespace, name, display_name, github_owner, github_repo, github_branch, image, \
         deployed_image, deployed_commit, last_known_good_revision, health, last_deployed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $8::text IS NULL THEN NULL ELSE now() END) \
         ON CONFLICT (namespace, name) DO UPDATE SET display_name = EXCLUDED.display_name, github_owner = EXCLUDED.github_owner, \
         github_repo = EXCLUDED.github_repo, github_branch = EXCLUDED.github_branch, image = EXCLUDED.image, \
         deployed_image = EXCLUDED.deployed_image, deployed_commit = EXCLUDED.deployed_commit, \
         last_known_good_revision = EXCLUDED.last_known_good_revision, health = EXCLUDED.health, \
         last_deployed_at = CASE WHEN javari_projects.deployed_image IS DISTINCT FROM EXCLUDED.deployed_image \
                            THEN now() ELSE javari_projects.last_deployed_at END \
         RETURNING id",
    )
    .bind(p.namespace)
    .bind(p.name)
    .bind(p.display_name)
    .bind(owner)
    .bind(repo)
    .bind(branch)
    .bind(p.image)
    .bind(p.deployed_image)
    .bind(p.deployed_commit)
    .bind(p.last_known_good)
    .bind(p.health)
    .fetch_one(pool)
    .await
}

/// One rollback, as an auto-healing incident.
pub async fn record_rollback(
    pool: &PgPool,
    project_id: Uuid,
    from: &str,
    to: &str,
    reason: &str,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO javari_auto_healing_incidents (project_id, error_type, original_error, healing_strategy, code_before, \
         code_after, success, rollback_required, completed_at) \
         VALUES ($1, 'rollback', $2, 'rollback to last known good revision', $3, $4, true, true, now()) RETURNING id",
    )
    .bind(project_id)
    .bind(reason)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await
}
