//! Scans and suppressions in PostgreSQL: a scan writes its findings; the findings page shows
//! the latest scan's findings less the unexpired suppressions, marking what the scan before
//! did not have.

use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use super::checks::{Thresholds, run_checks};
use super::finding::{Category, Check, Finding, Level};
use crate::schema::drift::{self, DriftSource};
use crate::schema::introspect::{Scope, introspect};

/// The console's own database.
pub const PLATFORM: &str = "platform";
/// Longest suppression: a year (a finding is looked at again at least that often).
pub const MAX_SUPPRESSION_DAYS: i64 = 366;
/// The advisory lock a scan of a target holds, so replicas do not scan at once.
const SCAN_LOCK: &str = "javari_schema_scan:";

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("a scan of {0} is already running")]
    Busy(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no suppression of {0}")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

macro_rules! scan_columns {
    () => {
        "id, target, trigger, started_at, finished_at, status, error, tables_scanned, duration_ms, drift_checked, drift_error"
    };
}

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Scan {
    pub id: Uuid,
    pub target: String,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub error: Option<String>,
    pub tables_scanned: i32,
    pub duration_ms: Option<i32>,
    /// The live schema was compared with the migrations (drift findings are complete).
    pub drift_checked: bool,
    /// Why drift could not be compared (no CREATEDB, migrations failing, …).
    pub drift_error: Option<String>,
}

impl Scan {
    /// What the findings page says about drift for this scan.
    pub fn drift_note(&self) -> String {
        match (&self.drift_checked, &self.drift_error) {
            (true, _) => "compared with the migrations".to_owned(),
            (false, Some(e)) => format!("not compared: {e}"),
            (false, None) => {
                "not compared (this database's schema does not come from Javari's migrations)"
                    .to_owned()
            }
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Suppression {
    pub id: Uuid,
    pub target: String,
    pub key: String,
    pub reason: String,
    pub owner: String,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A finding of the latest scan as the page shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShownFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// The scan before the latest did not report it.
    pub new: bool,
    pub suppression: Option<Suppression>,
}

/// The latest scan's findings: open ones (possibly only the first few, see [`report_page`])
/// and suppressed ones, with counts over every open finding.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub scan: Option<Scan>,
    pub previous: Option<Scan>,
    pub open: Vec<ShownFinding>,
    pub suppressed: Vec<ShownFinding>,
    /// Open findings by level (all of them, listed or not).
    pub counts: OpenCounts,
}

/// Open (unsuppressed) findings of a scan by level, and how many are new since the scan before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpenCounts {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub new: usize,
}

impl OpenCounts {
    pub fn total(&self) -> usize {
        self.errors + self.warnings + self.infos
    }
}

impl Report {
    pub fn count(&self, level: Level) -> usize {
        match level {
            Level::Error => self.counts.errors,
            Level::Warn => self.counts.warnings,
            Level::Info => self.counts.infos,
        }
    }
    pub fn new_count(&self) -> usize {
        self.counts.new
    }
    /// Open findings counted but not listed.
    pub fn unlisted(&self) -> usize {
        self.counts.total().saturating_sub(self.open.len())
    }
}

/// What one scan found, before it is stored.
pub struct ScanResult {
    pub findings: Vec<Finding>,
    pub tables: usize,
    pub drift_checked: bool,
    pub drift_error: Option<String>,
}

/// Introspects `db` and runs every check.
pub async fn check_database(
    db: &PgPool,
    thresholds: &Thresholds,
) -> Result<ScanResult, sqlx::Error> {
    check_database_with(db, thresholds, None).await
}

/// Introspects `db` once, runs every check and, with `drift`, compares the same snapshot
/// with what the migrations produce: each difference is a [`Check::Drift`] finding. A drift
/// that cannot be computed leaves the other findings whole and says why.
pub async fn check_database_with(
    db: &PgPool,
    thresholds: &Thresholds,
    drift: Option<&DriftSource>,
) -> Result<ScanResult, sqlx::Error> {
    let catalog = introspect(db, &Scope::All).await?;
    let mut findings = run_checks(&catalog, thresholds);
    let (drift_checked, drift_error) = match drift {
        None => (false, None),
        Some(source) => match drift::expected(source).await {
            Ok(expected) => {
                findings.extend(drift::diff(&expected, &catalog));
                (true, None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "schema drift not compared");
                (false, Some(e.to_string()))
            }
        },
    };
    Ok(ScanResult {
        findings,
        tables: catalog.tables.len(),
        drift_checked,
        drift_error,
    })
}

/// Scans `db` (the database named `target`) and stores the findings in `store`. Only one
/// scan of a target runs at a time across replicas ([`HealthError::Busy`] otherwise).
/// With `drift`, the scan also compares the schema with the migrations.
pub async fn scan(
    store: &PgPool,
    db: &PgPool,
    target: &str,
    trigger: &str,
    thresholds: &Thresholds,
    drift: Option<&DriftSource>,
) -> Result<Scan, HealthError> {
    let mut lock = store.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("{SCAN_LOCK}{target}"))
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        let _ = lock.close().await;
        return Err(HealthError::Busy(target.to_owned()));
    }
    let outcome = scan_locked(store, db, target, trigger, thresholds, drift).await;
    // Released now (closing the session releases it too, but only once the server has
    // noticed, which a scan right after may not wait for).
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(format!("{SCAN_LOCK}{target}"))
        .execute(&mut lock)
        .await;
    let _ = lock.close().await;
    outcome
}

async fn scan_locked(
    store: &PgPool,
    db: &PgPool,
    target: &str,
    trigger: &str,
    thresholds: &Thresholds,
    drift: Option<&DriftSource>,
) -> Result<Scan, HealthError> {
    let started = Instant::now();
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO javari_schema_scans (target, trigger) VALUES ($1, $2) RETURNING id",
    )
    .bind(target)
    .bind(trigger)
    .fetch_one(store)
    .await?;
    let result = check_database_with(db, thresholds, drift).await;
    let elapsed = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    match result {
        Ok(result) => {
            let mut tx = store.begin().await?;
            // One statement for all the findings (a scan of a large schema has hundreds).
            let mut columns: [Vec<&str>; 7] = Default::default();
            for f in &result.findings {
                columns[0].push(&f.key);
                columns[1].push(f.check.as_str());
                columns[2].push(f.level.as_str());
                columns[3].push(f.category.as_str());
                columns[4].push(&f.object);
                columns[5].push(&f.description);
                columns[6].push(&f.remediation);
            }
            let [
                keys,
                checks,
                levels,
                categories,
                objects,
                descriptions,
                remediations,
            ] = columns;
            sqlx::query(
                "INSERT INTO javari_schema_scan_findings
                     (scan_id, key, check_name, level, category, object, description, remediation)
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                                          $6::text[], $7::text[], $8::text[])
                 ON CONFLICT (scan_id, key) DO NOTHING",
            )
            .bind(id)
            .bind(keys)
            .bind(checks)
            .bind(levels)
            .bind(categories)
            .bind(objects)
            .bind(descriptions)
            .bind(remediations)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE javari_schema_scans SET status = 'completed', finished_at = now(),
                        tables_scanned = $2, duration_ms = $3, drift_checked = $4, drift_error = $5
                 WHERE id = $1",
            )
            .bind(id)
            .bind(result.tables as i32)
            .bind(elapsed)
            .bind(result.drift_checked)
            .bind(&result.drift_error)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Err(e) => {
            sqlx::query(
                "UPDATE javari_schema_scans SET status = 'failed', finished_at = now(),
                        error = $2, duration_ms = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(e.to_string())
            .bind(elapsed)
            .execute(store)
            .await?;
        }
    }
    get_scan(store, id).await
}

async fn get_scan(store: &PgPool, id: Uuid) -> Result<Scan, HealthError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        scan_columns!(),
        " FROM javari_schema_scans WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(store)
    .await?)
}

/// The last `n` completed scans of `target`, newest first.
pub async fn completed_scans(
    store: &PgPool,
    target: &str,
    n: i64,
) -> Result<Vec<Scan>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        scan_columns!(),
        " FROM javari_schema_scans WHERE target = $1 AND status = 'completed'
              ORDER BY started_at DESC, created_at DESC LIMIT $2"
    ))
    .bind(target)
    .bind(n)
    .fetch_all(store)
    .await
}

#[derive(sqlx::FromRow)]
struct FindingRow {
    key: String,
    check_name: String,
    level: String,
    category: String,
    object: String,
    description: String,
    remediation: String,
    new: bool,
}

impl FindingRow {
    fn into_shown(self, suppression: Option<Suppression>) -> Option<ShownFinding> {
        Some(ShownFinding {
            finding: Finding {
                check: Check::parse(&self.check_name)?,
                level: Level::parse(&self.level)?,
                category: Category::parse(&self.category)?,
                object: self.object,
                description: self.description,
                remediation: self.remediation,
                key: self.key,
            },
            new: self.new,
            suppression,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SuppressedRow {
    #[sqlx(flatten)]
    finding: FindingRow,
    #[sqlx(flatten)]
    suppression: Suppression,
}

/// The predicates the report's queries share: `f` is a finding of scan `$1`, `$2` the
/// previous scan (or NULL), `$3` the target and `$4` now.
const IS_NEW: &str = "($2::uuid IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM javari_schema_scan_findings p WHERE p.scan_id = $2 AND p.key = f.key))";
const IS_SUPPRESSED: &str = "EXISTS (SELECT 1 FROM javari_schema_suppressions s
        WHERE s.target = $3 AND s.key = f.key AND s.expires_at > $4)";
/// A [`FindingRow`]'s columns but `new` (which each query computes).
const FINDING_COLUMNS: &str =
    "f.key, f.check_name, f.level, f.category, f.object, f.description, f.remediation";
/// Errors first, then by check and object.
const LISTED_ORDER: &str =
    "CASE f.level WHEN 'error' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, f.check_name, f.object";

type ReportQuery<'q, O> = sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>;

/// What [`IS_NEW`] and [`IS_SUPPRESSED`] read, as `$1`..`$4`.
#[derive(Clone, Copy)]
struct ScanParams<'q> {
    scan: Uuid,
    previous: Option<Uuid>,
    target: &'q str,
    now: DateTime<Utc>,
}

impl<'q> ScanParams<'q> {
    fn bind<O>(self, query: ReportQuery<'q, O>) -> ReportQuery<'q, O> {
        query
            .bind(self.scan)
            .bind(self.previous)
            .bind(self.target)
            .bind(self.now)
    }
}

/// The latest scan's findings of `target` as of `now`, every open one listed.
pub async fn report(
    store: &PgPool,
    target: &str,
    now: DateTime<Utc>,
) -> Result<Report, sqlx::Error> {
    report_page(store, target, now, None).await
}

/// The latest scan's findings of `target` as of `now`: the first `listed` open findings
/// (errors first; all with `None`), every suppressed one, and counts of all open ones. The
/// database filters, counts and cuts, so the page costs the same at any number of findings.
pub async fn report_page(
    store: &PgPool,
    target: &str,
    now: DateTime<Utc>,
    listed: Option<usize>,
) -> Result<Report, sqlx::Error> {
    let mut scans = completed_scans(store, target, 2).await?.into_iter();
    let Some(scan) = scans.next() else {
        return Ok(Report::default());
    };
    let previous = scans.next();
    let params = ScanParams {
        scan: scan.id,
        previous: previous.as_ref().map(|p| p.id),
        target,
        now,
    };
    let counts: Vec<(String, i64, i64)> = params
        .bind(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT f.level, count(*), count(*) FILTER (WHERE {IS_NEW})
             FROM javari_schema_scan_findings f
             WHERE f.scan_id = $1 AND NOT {IS_SUPPRESSED} GROUP BY f.level"
        ))))
        .fetch_all(store)
        .await?;
    let mut open_counts = OpenCounts::default();
    for (level, n, new) in counts {
        let n = usize::try_from(n).unwrap_or(0);
        match Level::parse(&level) {
            Some(Level::Error) => open_counts.errors = n,
            Some(Level::Warn) => open_counts.warnings = n,
            Some(Level::Info) => open_counts.infos = n,
            None => continue,
        }
        open_counts.new += usize::try_from(new).unwrap_or(0);
    }
    let limit = listed.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let open: Vec<FindingRow> = params
        .bind(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {FINDING_COLUMNS}, {IS_NEW} AS new
             FROM javari_schema_scan_findings f
             WHERE f.scan_id = $1 AND NOT {IS_SUPPRESSED}
             ORDER BY {LISTED_ORDER} LIMIT $5"
        ))))
        .bind(limit)
        .fetch_all(store)
        .await?;
    let suppressed: Vec<SuppressedRow> = params.bind(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {FINDING_COLUMNS}, {IS_NEW} AS new,
                    s.id, s.target, s.key, s.reason, s.owner, s.expires_at, s.created_by, s.created_at
             FROM javari_schema_scan_findings f
             JOIN javari_schema_suppressions s ON s.target = $3 AND s.key = f.key AND s.expires_at > $4
             WHERE f.scan_id = $1
             ORDER BY {LISTED_ORDER}"
        ))),
    )
    .fetch_all(store)
    .await?;
    Ok(Report {
        scan: Some(scan),
        previous,
        open: open
            .into_iter()
            .filter_map(|f| f.into_shown(None))
            .collect(),
        suppressed: suppressed
            .into_iter()
            .filter_map(|r| r.finding.into_shown(Some(r.suppression)))
            .collect(),
        counts: open_counts,
    })
}

/// Error-level findings of the latest scan of the platform's database that no unexpired
/// suppression hides (the overview shows this number).
pub async fn open_error_count(store: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "WITH latest AS (
             SELECT id FROM javari_schema_scans WHERE target = $1 AND status = 'completed'
             ORDER BY started_at DESC, created_at DESC LIMIT 1)
         SELECT count(*)::int8 FROM javari_schema_scan_findings f
         WHERE f.scan_id = (SELECT id FROM latest) AND f.level = 'error'
           AND NOT EXISTS (SELECT 1 FROM javari_schema_suppressions s
                           WHERE s.target = $1 AND s.key = f.key AND s.expires_at > now())",
    )
    .bind(PLATFORM)
    .fetch_one(store)
    .await
}

/// A suppression to record.
#[derive(Clone, Debug)]
pub struct NewSuppression<'a> {
    pub target: &'a str,
    pub key: &'a str,
    pub reason: &'a str,
    pub owner: &'a str,
    pub expires_at: DateTime<Utc>,
    pub created_by: &'a str,
}

/// Checks a suppression's fields.
pub fn validate_suppression(s: &NewSuppression<'_>, now: DateTime<Utc>) -> Result<(), HealthError> {
    let invalid = |m: &str| Err(HealthError::Invalid(m.to_owned()));
    if s.key.trim().is_empty() || s.key.len() > 1000 {
        return invalid("the finding's key must be 1–1000 characters");
    }
    if s.reason.trim().is_empty() || s.reason.len() > 2000 {
        return invalid("a suppression needs a reason (at most 2000 characters)");
    }
    if s.owner.trim().is_empty() || s.owner.len() > 200 {
        return invalid("a suppression needs an owner (at most 200 characters)");
    }
    if s.expires_at <= now {
        return invalid("the expiry must be in the future");
    }
    if s.expires_at > now + chrono::Duration::days(MAX_SUPPRESSION_DAYS) {
        return invalid("a suppression expires within a year");
    }
    Ok(())
}

/// Records (or replaces) the suppression of a finding.
pub async fn suppress(
    store: &PgPool,
    s: &NewSuppression<'_>,
    now: DateTime<Utc>,
) -> Result<Suppression, HealthError> {
    validate_suppression(s, now)?;
    Ok(sqlx::query_as(
        "INSERT INTO javari_schema_suppressions (target, key, reason, owner, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (target, key) DO UPDATE SET reason = EXCLUDED.reason, owner = EXCLUDED.owner,
             expires_at = EXCLUDED.expires_at, created_by = EXCLUDED.created_by, created_at = now()
         RETURNING id, target, key, reason, owner, expires_at, created_by, created_at",
    )
    .bind(s.target)
    .bind(s.key.trim())
    .bind(s.reason.trim())
    .bind(s.owner.trim())
    .bind(s.expires_at)
    .bind(s.created_by)
    .fetch_one(store)
    .await?)
}

/// Removes a suppression: its finding shows again.
pub async fn unsuppress(store: &PgPool, target: &str, key: &str) -> Result<(), HealthError> {
    let done = sqlx::query("DELETE FROM javari_schema_suppressions WHERE target = $1 AND key = $2")
        .bind(target)
        .bind(key)
        .execute(store)
        .await?;
    if done.rows_affected() == 0 {
        return Err(HealthError::NotFound(key.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressions_need_a_reason_an_owner_and_a_near_expiry() {
        let now = Utc::now();
        let ok = NewSuppression {
            target: PLATFORM,
            key: "no_primary_key:public.t",
            reason: "legacy import table",
            owner: "data-team",
            expires_at: now + chrono::Duration::days(30),
            created_by: "a@example.com",
        };
        assert!(validate_suppression(&ok, now).is_ok());
        for bad in [
            NewSuppression {
                reason: " ",
                ..ok.clone()
            },
            NewSuppression {
                owner: "",
                ..ok.clone()
            },
            NewSuppression {
                expires_at: now,
                ..ok.clone()
            },
            NewSuppression {
                expires_at: now + chrono::Duration::days(400),
                ..ok.clone()
            },
        ] {
            assert!(validate_suppression(&bad, now).is_err());
        }
    }
}
