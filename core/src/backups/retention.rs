//! Retention: which complete backups a policy keeps (the newest `keep_last`, plus the newest
//! backup of each of the last `daily` days, `weekly` ISO weeks and `monthly` months), never
//! the newest verified one. A pure function, so the next prune can be previewed exactly.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

/// The counts of a policy's `retention`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionRule {
    pub keep_last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl From<&javari_crds::backup_policy::Retention> for RetentionRule {
    fn from(r: &javari_crds::backup_policy::Retention) -> Self {
        let n = |v: i32| u32::try_from(v).unwrap_or(0);
        Self {
            keep_last: n(r.keep_last).max(1),
            daily: n(r.daily),
            weekly: n(r.weekly),
            monthly: n(r.monthly),
        }
    }
}

/// A complete backup as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    pub snapshot_at: DateTime<Utc>,
    pub verified: bool,
}

/// Why a backup is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeepReason {
    Last,
    Daily,
    Weekly,
    Monthly,
    NewestVerified,
}

impl KeepReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::NewestVerified => "newest-verified",
        }
    }
}

/// What a prune does: kept backups with their reasons (newest first) and the ones deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    pub keep: Vec<(Uuid, Vec<KeepReason>)>,
    pub prune: Vec<Uuid>,
}

/// Plans a prune of `candidates` (in any order) under `rule`.
pub fn plan(rule: RetentionRule, candidates: &[Candidate]) -> RetentionPlan {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    // Newest first; ties broken by id so the plan is deterministic.
    sorted.sort_by(|a, b| b.snapshot_at.cmp(&a.snapshot_at).then(b.id.cmp(&a.id)));

    let mut reasons: BTreeMap<Uuid, Vec<KeepReason>> = BTreeMap::new();
    for c in sorted.iter().take(rule.keep_last as usize) {
        reasons.entry(c.id).or_default().push(KeepReason::Last);
    }
    let mut bucket =
        |limit: u32, reason: KeepReason, key: &dyn Fn(&DateTime<Utc>) -> (i32, u32)| {
            let mut seen: Vec<(i32, u32)> = Vec::new();
            for c in &sorted {
                if seen.len() >= limit as usize {
                    break;
                }
                let k = key(&c.snapshot_at);
                if !seen.contains(&k) {
                    seen.push(k);
                    reasons.entry(c.id).or_default().push(reason);
                }
            }
        };
    bucket(rule.daily, KeepReason::Daily, &|t| (t.year(), t.ordinal()));
    bucket(rule.weekly, KeepReason::Weekly, &|t| {
        let w = t.iso_week();
        (w.year(), w.week())
    });
    bucket(rule.monthly, KeepReason::Monthly, &|t| {
        (t.year(), t.month())
    });
    if let Some(v) = sorted.iter().find(|c| c.verified) {
        reasons
            .entry(v.id)
            .or_default()
            .push(KeepReason::NewestVerified);
    }

    let mut out = RetentionPlan::default();
    for c in sorted {
        match reasons.remove(&c.id) {
            Some(r) => out.keep.push((c.id, r)),
            None => out.prune.push(c.id),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn rule(keep_last: u32, daily: u32, weekly: u32, monthly: u32) -> RetentionRule {
        RetentionRule {
            keep_last,
            daily,
            weekly,
            monthly,
        }
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn backup(t: DateTime<Utc>, verified: bool) -> Candidate {
        Candidate {
            id: Uuid::new_v4(),
            snapshot_at: t,
            verified,
        }
    }

    #[test]
    fn keep_last_keeps_the_newest() {
        let all: Vec<_> = (1..=5).map(|d| backup(at(d, 3), true)).collect();
        let p = plan(rule(2, 0, 0, 0), &all);
        let kept: Vec<_> = p.keep.iter().map(|k| k.0).collect();
        assert_eq!(kept, vec![all[4].id, all[3].id]);
        assert_eq!(p.prune, vec![all[2].id, all[1].id, all[0].id]);
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        let all = vec![
            backup(at(10, 1), false),
            backup(at(10, 20), false),
            backup(at(11, 5), false),
            backup(at(12, 5), false),
        ];
        let p = plan(rule(1, 2, 0, 0), &all);
        let kept: Vec<_> = p.keep.iter().map(|k| k.0).collect();
        // Day 12 (also `last`) and the newest of day 11; day 10 is the third day.
        assert_eq!(kept, vec![all[3].id, all[2].id]);
        assert_eq!(p.prune.len(), 2);
    }

    #[test]
    fn the_newest_verified_backup_is_never_pruned() {
        let all = vec![
            backup(at(1, 3), true),
            backup(at(2, 3), false),
            backup(at(3, 3), false),
        ];
        let p = plan(rule(1, 0, 0, 0), &all);
        assert!(
            p.keep
                .iter()
                .any(|k| k.0 == all[0].id && k.1 == vec![KeepReason::NewestVerified])
        );
        assert_eq!(p.prune, vec![all[1].id]);
    }

    /// A simulated month of daily backups at 03:00 (plus an extra one on some days) under the
    /// seeds' policy (7 daily, 4 weekly, 3 monthly, keep last 7): exactly the expected set.
    #[test]
    fn a_month_of_backups_keeps_exactly_what_the_policy_says() {
        let start = Utc
            .with_ymd_and_hms(2026, 10, 1, 3, 0, 0)
            .single()
            .expect("time");
        let mut all = Vec::new();
        for day in 0..31 {
            let t = start + Duration::days(day);
            all.push(backup(t, day % 3 == 0));
            if day % 5 == 0 {
                all.push(backup(t + Duration::hours(12), false));
            }
        }
        let p = plan(rule(7, 7, 4, 3), &all);
        let kept_times: Vec<_> = p
            .keep
            .iter()
            .map(|(id, _)| {
                all.iter()
                    .find(|c| c.id == *id)
                    .map(|c| c.snapshot_at.format("%m-%d %H").to_string())
                    .expect("kept id is a candidate")
            })
            .collect();
        // Extra 15:00 backups on Oct 1, 6, 11, 16, 21, 26, 31. Last 7: Oct 31 15h, 31 03h,
        // 30, 29, 28, 27, 26 15h. Daily 7: the newest of Oct 31..25. Weekly 4 (ISO weeks end
        // on Sunday): Oct 31 15h (week 44), 25 (43), 18 (42), 11 15h (41). Monthly 3: only
        // October exists. Newest verified (every third day, never the extras): Oct 31 03h.
        assert_eq!(
            kept_times,
            vec![
                "10-31 15", "10-31 03", "10-30 03", "10-29 03", "10-28 03", "10-27 03", "10-26 15",
                "10-25 03", "10-18 03", "10-11 15",
            ]
        );
        assert_eq!(p.keep.len() + p.prune.len(), all.len());
        assert_eq!(
            p.keep[0].1,
            vec![
                KeepReason::Last,
                KeepReason::Daily,
                KeepReason::Weekly,
                KeepReason::Monthly
            ]
        );
        assert_eq!(
            p.keep[1].1,
            vec![KeepReason::Last, KeepReason::NewestVerified]
        );
    }

    #[test]
    fn plans_are_stable_under_input_order() {
        let mut all: Vec<_> = (1..=20).map(|d| backup(at(d, 3), d % 4 == 0)).collect();
        let a = plan(rule(3, 5, 2, 1), &all);
        all.reverse();
        assert_eq!(plan(rule(3, 5, 2, 1), &all), a);
    }
}
