//! A postmortem drafted from what happened: PagerDuty's sections (owner, overview, impact,
//! contributing factors, resolution, timeline, action items) filled from the incident, its
//! timeline and the figures measured during it. Pure; the person then edits the Markdown.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::store::{Incident, TimelineEvent};

/// Figures of the incident's window, read from the shared schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Impact {
    /// Checks of the affected Monitors that failed between opening and resolution.
    pub failed_checks: i64,
    pub total_checks: i64,
    /// Components (Monitors, Projects, Providers) named by the incident or its timeline.
    pub components: Vec<String>,
    /// AI spend during the window, in US dollars.
    pub cost_usd: f64,
}

/// A follow-up with an owner and a due date.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionItem {
    pub title: String,
    pub owner: String,
    pub due: Option<NaiveDate>,
    pub done: bool,
}

/// Durations the postmortem and the dashboards report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durations {
    pub to_acknowledge: Option<TimeDelta>,
    pub to_resolve: Option<TimeDelta>,
}

pub fn durations(incident: &Incident) -> Durations {
    Durations {
        to_acknowledge: incident.acknowledged_at.map(|t| t - incident.opened_at),
        to_resolve: incident.resolved_at.map(|t| t - incident.opened_at),
    }
}

/// `1 h 05 min`, `12 min 30 s`, `45 s`.
pub fn human(d: TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s:02} s"),
        _ => format!("{h} h {m:02} min"),
    }
}

/// The draft, as Markdown.
pub fn draft(
    incident: &Incident,
    events: &[TimelineEvent],
    impact: &Impact,
    last_change: Option<&TimelineEvent>,
    items: &[ActionItem],
) -> String {
    let mut md = String::new();
    let d = durations(incident);
    let fmt_time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let or_open = |x: Option<TimeDelta>| x.map(human).unwrap_or_else(|| "not yet".to_owned());

    let _ = writeln!(md, "# Postmortem: {}\n", incident.title);
    let owner = incident
        .commander
        .as_deref()
        .or(incident.acknowledged_by.as_deref())
        .unwrap_or("(unassigned)");
    let _ = writeln!(md, "- **Owner:** {owner}");
    let _ = writeln!(md, "- **Severity:** {}", incident.severity);
    let _ = writeln!(md, "- **Status:** {}", incident.status);
    let _ = writeln!(md, "- **Started:** {}", fmt_time(incident.opened_at));
    if let Some(t) = incident.resolved_at {
        let _ = writeln!(md, "- **Resolved:** {}", fmt_time(t));
    }
    let _ = writeln!(
        md,
        "- **Time to acknowledge:** {}",
        or_open(d.to_acknowledge)
    );
    let _ = writeln!(md, "- **Time to resolve:** {}\n", or_open(d.to_resolve));

    let _ = writeln!(md, "## Overview\n");
    let _ = writeln!(
        md,
        "{}\n",
        incident
            .description
            .as_deref()
            .unwrap_or("(What happened, in two sentences.)")
    );

    let _ = writeln!(md, "## Impact\n");
    let components = if impact.components.is_empty() {
        "(none recorded)".to_owned()
    } else {
        impact.components.join(", ")
    };
    let _ = writeln!(md, "- Affected components: {components}");
    let _ = writeln!(
        md,
        "- Failed checks: {} of {}",
        impact.failed_checks, impact.total_checks
    );
    let _ = writeln!(
        md,
        "- AI cost during the incident: ${:.2}\n",
        impact.cost_usd
    );

    let _ = writeln!(md, "## Contributing factors\n");
    match last_change {
        Some(c) => {
            let _ = writeln!(
                md,
                "- Last change before it started: {} ({}, {})",
                c.message,
                fmt_time(c.created_at),
                c.actor.as_deref().unwrap_or("unknown actor")
            );
        }
        None => {
            let _ = writeln!(md, "- No change recorded before it started.");
        }
    }
    let _ = writeln!(md, "- (What else made it possible or worse.)\n");

    let _ = writeln!(md, "## Resolution\n");
    let resolution = events
        .iter()
        .rev()
        .find(|e| {
            (e.kind == "status_changed" && e.data["to"] == "resolved") || e.kind == "resolved"
        })
        .map(|e| e.message.as_str())
        .unwrap_or("(How it was fixed.)");
    let _ = writeln!(md, "{resolution}\n");

    let _ = writeln!(md, "## Timeline\n");
    let _ = writeln!(md, "| time (UTC) | event | actor | detail |");
    let _ = writeln!(md, "| --- | --- | --- | --- |");
    for e in events {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            e.created_at.format("%H:%M:%S"),
            e.kind,
            cell(e.actor.as_deref().unwrap_or("")),
            cell(&e.message)
        );
    }

    let _ = writeln!(md, "\n## Action items\n");
    if items.is_empty() {
        let _ = writeln!(md, "- [ ] (Follow-up) — owner, due date");
    }
    for i in items {
        let due = i
            .due
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "no due date".to_owned());
        let _ = writeln!(
            md,
            "- [{}] {} — {}, due {}",
            if i.done { "x" } else { " " },
            i.title,
            i.owner,
            due
        );
    }
    md
}

/// A Markdown table cell: one line, no pipes.
fn cell(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .take(300)
        .collect();
    one_line.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::IncidentStatus;
    use javari_crds::common::Severity;
    use uuid::Uuid;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time") + TimeDelta::minutes(min)
    }

    fn incident() -> Incident {
        Incident {
            id: Uuid::nil(),
            dedup_key: "monitor:prod/web".into(),
            title: "web is down".into(),
            description: Some("The API answered 503 for 40 minutes.".into()),
            severity: Severity::P0,
            status: IncidentStatus::Resolved,
            source_kind: Some("monitor".into()),
            source_namespace: Some("prod".into()),
            source_name: Some("web".into()),
            runbook: Some("api-down".into()),
            occurrences: 3,
            declared_by: None,
            commander: Some("bob".into()),
            communications: None,
            merged_into: None,
            opened_at: at(0),
            acknowledged_at: Some(at(4)),
            acknowledged_by: Some("bob".into()),
            resolved_at: Some(at(65)),
            resolved_by: Some("bob".into()),
            closed_at: None,
        }
    }

    fn event(min: i64, kind: &str, message: &str, actor: &str) -> TimelineEvent {
        TimelineEvent {
            id: min,
            kind: kind.into(),
            message: message.into(),
            actor: Some(actor.into()),
            data: serde_json::Value::Null,
            created_at: at(min),
        }
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(TimeDelta::seconds(45)), "45 s");
        assert_eq!(human(TimeDelta::seconds(750)), "12 min 30 s");
        assert_eq!(human(TimeDelta::minutes(65)), "1 h 05 min");
        let d = durations(&incident());
        assert_eq!(d.to_acknowledge, Some(TimeDelta::minutes(4)));
        assert_eq!(d.to_resolve, Some(TimeDelta::minutes(65)));
    }

    #[test]
    fn the_draft_has_every_section_filled_from_the_data() {
        let events = vec![
            event(0, "opened", "3 checks failed", "javari-operator"),
            event(4, "acknowledged", "acknowledged", "bob"),
            event(20, "runbook_step", "rollback-project web | ok", "bob"),
            event(65, "resolved", "checks pass again", "javari-operator"),
        ];
        let change = event(
            -10,
            "rollout",
            "web rolled out ghcr.io/x/web:abc123",
            "ci-bot",
        );
        let impact = Impact {
            failed_checks: 12,
            total_checks: 130,
            components: vec!["monitor prod/web".into(), "project prod/web".into()],
            cost_usd: 1.234,
        };
        let items = vec![ActionItem {
            title: "Alert on the pool size".into(),
            owner: "carol".into(),
            due: NaiveDate::from_ymd_opt(2027, 1, 15),
            done: false,
        }];
        let md = draft(&incident(), &events, &impact, Some(&change), &items);
        for needle in [
            "# Postmortem: web is down",
            "**Owner:** bob",
            "**Time to acknowledge:** 4 min 00 s",
            "**Time to resolve:** 1 h 05 min",
            "The API answered 503 for 40 minutes.",
            "Affected components: monitor prod/web, project prod/web",
            "Failed checks: 12 of 130",
            "AI cost during the incident: $1.23",
            "Last change before it started: web rolled out ghcr.io/x/web:abc123",
            "## Resolution\n\nchecks pass again",
            "rollback-project web \\| ok",
            "- [ ] Alert on the pool size — carol, due 2027-01-15",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let timeline_rows = md
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(':'))
            .count();
        assert_eq!(timeline_rows, events.len(), "one row per event");
    }
}
