//! Markdown to [`Runbook`]: front matter between `---` lines, a `# Title`, prose, then one
//! `## N. Title` section per step. A section's ```` ```javari ```` block (YAML) says what the
//! step does; a section without one is a manual step whose prose is the instruction. Other
//! fenced blocks (`sh`, `sql`, …) are shown to the person running it and never executed.

use javari_crds::duration::parse_duration;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::model::{
    Action, DEFAULT_BACKOFF, FrontMatter, HttpMethod, KubeAction, OnFailure, Runbook, Step,
    StepKind,
};

/// Why a runbook cannot be used, with the line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RunbookError {
    pub line: usize,
    pub message: String,
}

pub(crate) fn error(line: usize, message: impl Into<String>) -> RunbookError {
    RunbookError {
        line,
        message: message.into(),
    }
}

/// The info string of an executable step's fenced block.
pub const STEP_FENCE: &str = "javari";

pub fn parse(text: &str) -> Result<Runbook, RunbookError> {
    let lines: Vec<&str> = text.lines().collect();
    let (meta, body_start) = front_matter(&lines)?;
    let mut cursor = body_start;
    while cursor < lines.len() && lines[cursor].trim().is_empty() {
        cursor += 1;
    }
    if !lines.get(cursor).is_some_and(|l| l.starts_with("# ")) {
        return Err(error(
            cursor + 1,
            "expected the `# Title` heading after the front matter",
        ));
    }
    let sections = sections(&lines, cursor + 1)?;
    let summary = sections.summary.trim().to_owned();
    let mut steps = Vec::with_capacity(sections.steps.len());
    for (index, raw) in sections.steps.into_iter().enumerate() {
        steps.push(step(index + 1, raw)?);
    }
    Ok(Runbook {
        meta,
        summary,
        steps,
    })
}

fn front_matter(lines: &[&str]) -> Result<(FrontMatter, usize), RunbookError> {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return Err(error(
            1,
            "a runbook starts with front matter between `---` lines",
        ));
    }
    let end = lines
        .iter()
        .skip(1)
        .position(|l| l.trim_end() == "---")
        .map(|i| i + 1)
        .ok_or_else(|| error(1, "the front matter has no closing `---`"))?;
    let yaml = lines[1..end].join("\n");
    let meta: FrontMatter =
        serde_yaml::from_str(&yaml).map_err(|e| error(yaml_line(&e, 2), e.to_string()))?;
    Ok((meta, end + 1))
}

fn yaml_line(e: &serde_yaml::Error, first_line: usize) -> usize {
    e.location()
        .map(|l| first_line + l.line().saturating_sub(1))
        .unwrap_or(first_line)
}

struct RawStep {
    line: usize,
    heading: String,
    prose: Vec<String>,
    blocks: Vec<(usize, String)>,
}

struct Sections {
    summary: String,
    steps: Vec<RawStep>,
}

/// Splits the body at `## ` headings outside fenced blocks, keeping `javari` blocks apart.
fn sections(lines: &[&str], start: usize) -> Result<Sections, RunbookError> {
    let mut summary = String::new();
    let mut steps: Vec<RawStep> = Vec::new();
    let mut fence: Option<(usize, String, Vec<&str>)> = None;
    for (offset, line) in lines[start..].iter().enumerate() {
        let number = start + offset + 1;
        if let Some((open_line, info, body)) = fence.as_mut() {
            if line.trim_start().starts_with("```") && line.trim() == "```" {
                let (open_line, info, body) = (*open_line, info.clone(), std::mem::take(body));
                fence = None;
                if info == STEP_FENCE {
                    let current = steps.last_mut().ok_or_else(|| {
                        error(open_line, "a `javari` block must be inside a `## N.` step")
                    })?;
                    current.blocks.push((open_line + 1, body.join("\n")));
                } else {
                    push_text(&mut summary, &mut steps, &format!("```{info}"));
                    for l in body {
                        push_text(&mut summary, &mut steps, l);
                    }
                    push_text(&mut summary, &mut steps, "```");
                }
            } else {
                body.push(line);
            }
            continue;
        }
        if let Some(info) = line.trim_start().strip_prefix("```") {
            fence = Some((number, info.trim().to_owned(), Vec::new()));
        } else if let Some(heading) = line.strip_prefix("## ") {
            steps.push(RawStep {
                line: number,
                heading: heading.trim().to_owned(),
                prose: Vec::new(),
                blocks: Vec::new(),
            });
        } else {
            push_text(&mut summary, &mut steps, line);
        }
    }
    if let Some((open_line, _, _)) = fence {
        return Err(error(open_line, "this fenced block is never closed"));
    }
    Ok(Sections { summary, steps })
}

fn push_text(summary: &mut String, steps: &mut [RawStep], line: &str) {
    match steps.last_mut() {
        Some(step) => step.prose.push(line.to_owned()),
        None => {
            summary.push_str(line);
            summary.push('\n');
        }
    }
}

/// Fields every step block may carry besides its kind's own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    kind: StepKind,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    backoff: Option<String>,
    #[serde(default)]
    on_failure: Option<OnFailure>,
}

const COMMON_FIELDS: [&str; 5] = ["kind", "timeout", "retries", "backoff", "on_failure"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualFields {
    #[serde(default)]
    checklist: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFields {
    #[serde(default)]
    method: HttpMethod,
    url: String,
    #[serde(default = "ok_status")]
    expect_status: u16,
}

fn ok_status() -> u16 {
    200
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlFields {
    query: String,
    #[serde(default = "default_row_limit")]
    row_limit: u32,
}

fn default_row_limit() -> u32 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyFields {
    monitor: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalFields {
    #[serde(default = "one")]
    approvers: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyFields {
    webhook: String,
    text: String,
}

fn step(position: usize, raw: RawStep) -> Result<Step, RunbookError> {
    let (number, title) = numbered(&raw.heading)
        .ok_or_else(|| error(raw.line, "a step heading reads `## N. Title`"))?;
    if number != position {
        return Err(error(
            raw.line,
            format!("step numbered {number}, expected {position}"),
        ));
    }
    let instructions = raw.prose.join("\n").trim().to_owned();
    let (kind, common, action) = match raw.blocks.as_slice() {
        [] => (StepKind::Manual, None, Action::Manual { checklist: vec![] }),
        [(line, yaml)] => block(*line, yaml)?,
        [_, (line, _), ..] => {
            return Err(error(*line, "a step has at most one `javari` block"));
        }
    };
    let timeout = match common.as_ref().and_then(|c| c.timeout.as_deref()) {
        Some(t) => parse_duration(t).map_err(|e| error(raw.line, e.to_string()))?,
        None => kind.default_timeout(),
    };
    let backoff = match common.as_ref().and_then(|c| c.backoff.as_deref()) {
        Some(b) => parse_duration(b).map_err(|e| error(raw.line, e.to_string()))?,
        None => DEFAULT_BACKOFF,
    };
    Ok(Step {
        number,
        title: title.to_owned(),
        instructions,
        action,
        timeout,
        retries: common.as_ref().and_then(|c| c.retries).unwrap_or(0),
        backoff,
        on_failure: common.and_then(|c| c.on_failure).unwrap_or_default(),
        line: raw.line,
    })
}

fn numbered(heading: &str) -> Option<(usize, &str)> {
    let (n, title) = heading.split_once(". ")?;
    let title = title.trim();
    (!title.is_empty()).then_some(())?;
    Some((n.trim().parse().ok()?, title))
}

fn block(line: usize, yaml: &str) -> Result<(StepKind, Option<Common>, Action), RunbookError> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(yaml).map_err(|e| error(yaml_line(&e, line), e.to_string()))?;
    let serde_yaml::Value::Mapping(mut map) = value else {
        return Err(error(
            line,
            "a `javari` block is a YAML mapping with a `kind`",
        ));
    };
    let mut common_map = serde_yaml::Mapping::new();
    for key in COMMON_FIELDS {
        if let Some(v) = map.remove(key) {
            common_map.insert(key.into(), v);
        }
    }
    let common: Common = serde_yaml::from_value(serde_yaml::Value::Mapping(common_map))
        .map_err(|e| error(line, e.to_string()))?;
    let rest = serde_yaml::Value::Mapping(map);
    let action = match common.kind {
        StepKind::Manual => {
            let f: ManualFields = fields(line, rest, common.kind)?;
            Action::Manual {
                checklist: f.checklist,
            }
        }
        StepKind::Http => {
            let f: HttpFields = fields(line, rest, common.kind)?;
            Action::Http {
                method: f.method,
                url: f.url,
                expect_status: f.expect_status,
            }
        }
        StepKind::Sql => {
            let f: SqlFields = fields(line, rest, common.kind)?;
            Action::Sql {
                query: f.query.trim().to_owned(),
                row_limit: f.row_limit,
            }
        }
        StepKind::Kube => Action::Kube(fields::<KubeAction>(line, rest, common.kind)?),
        StepKind::Verify => {
            let f: VerifyFields = fields(line, rest, common.kind)?;
            Action::Verify { monitor: f.monitor }
        }
        StepKind::Approval => {
            let f: ApprovalFields = fields(line, rest, common.kind)?;
            Action::Approval {
                approvers: f.approvers,
            }
        }
        StepKind::Notify => {
            let f: NotifyFields = fields(line, rest, common.kind)?;
            Action::Notify {
                webhook: f.webhook,
                text: f.text,
            }
        }
    };
    Ok((common.kind, Some(common), action))
}

fn fields<T: DeserializeOwned>(
    line: usize,
    value: serde_yaml::Value,
    kind: StepKind,
) -> Result<T, RunbookError> {
    serde_yaml::from_value(value).map_err(|e| {
        let kind = serde_yaml::to_string(&kind).unwrap_or_default();
        error(line, format!("{} step: {e}", kind.trim()))
    })
}
