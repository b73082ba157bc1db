//! Gatus-style conditions, one per line: `[STATUS] == 200`, `[RESPONSE_TIME] < 500`,
//! `[BODY].status == "healthy"` (a JSON path), `[CERTIFICATE_EXPIRATION] > 240h`.
//! Parsed when a Monitor is reconciled, so a typo is reported before any check runs.

use std::time::Duration;

use javari_crds::duration::parse_duration;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Status,
    ResponseTime,
    /// A JSON path below the body's root: `[BODY].data.items[0].state` -> ["data", "items", "0", "state"].
    Body(Vec<String>),
    CertificateExpiration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub text: String,
    pub subject: Subject,
    pub op: Op,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition {condition:?}: {reason}")]
pub struct ParseError {
    pub condition: String,
    pub reason: String,
}

/// What one check observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckResult {
    pub status: Option<u16>,
    pub response_time: Duration,
    pub body: Option<String>,
    pub certificate_expires_in: Option<Duration>,
    /// Why no HTTP answer came (timeout, refused).
    pub error: Option<String>,
}

pub fn parse(text: &str) -> Result<Condition, ParseError> {
    let err = |reason: &str| ParseError {
        condition: text.to_owned(),
        reason: reason.to_owned(),
    };
    let t = text.trim();
    let close = t.find(']').filter(|_| t.starts_with('[')).ok_or_else(|| {
        err("must start with [STATUS], [RESPONSE_TIME], [BODY] or [CERTIFICATE_EXPIRATION]")
    })?;
    let placeholder = &t[1..close];
    let mut rest = &t[close + 1..];
    let mut path = Vec::new();
    if let Some(after_dot) = rest.strip_prefix('.') {
        let end = after_dot
            .find(|c: char| c.is_whitespace() || "=!<>".contains(c))
            .unwrap_or(after_dot.len());
        path =
            json_path(&after_dot[..end]).ok_or_else(|| err("malformed JSON path after [BODY]"))?;
        rest = &after_dot[end..];
    }
    let subject = match (placeholder, path.is_empty()) {
        ("STATUS", true) => Subject::Status,
        ("RESPONSE_TIME", true) => Subject::ResponseTime,
        ("CERTIFICATE_EXPIRATION", true) => Subject::CertificateExpiration,
        ("BODY", _) => Subject::Body(path),
        ("STATUS" | "RESPONSE_TIME" | "CERTIFICATE_EXPIRATION", false) => {
            return Err(err("only [BODY] takes a JSON path"));
        }
        _ => return Err(err("unknown placeholder")),
    };
    let rest = rest.trim_start();
    let (op, value) = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (*op, v.trim())))
    .ok_or_else(|| err("expected one of == != < <= > >="))?;
    if value.is_empty() {
        return Err(err("missing value after the operator"));
    }
    let value = value.trim_matches('"').to_owned();
    match &subject {
        Subject::Status | Subject::ResponseTime if value.parse::<u64>().is_err() => {
            return Err(err("expects a whole number"));
        }
        Subject::CertificateExpiration if parse_duration(&value).is_err() => {
            return Err(err("expects a duration such as 240h or 30d"));
        }
        _ => {}
    }
    Ok(Condition {
        text: t.to_owned(),
        subject,
        op,
        value,
    })
}

fn json_path(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(k, i)| (k, i));
        if !key.is_empty() {
            out.push(key.to_owned());
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            out.push(index.strip_suffix(']')?.parse::<usize>().ok()?.to_string());
        }
        if key.is_empty() && indexes.is_empty() {
            return None;
        }
    }
    Some(out)
}

fn compare<T: PartialOrd>(op: Op, left: T, right: T) -> bool {
    match op {
        Op::Eq => left == right,
        Op::Ne => left != right,
        Op::Lt => left < right,
        Op::Le => left <= right,
        Op::Gt => left > right,
        Op::Ge => left >= right,
    }
}

impl Condition {
    /// Whether the check passed this condition; `Err` says why it could not be evaluated.
    pub fn evaluate(&self, r: &CheckResult) -> Result<bool, String> {
        match &self.subject {
            Subject::Status => {
                let status = r.status.ok_or_else(|| {
                    r.error
                        .clone()
                        .unwrap_or_else(|| "no HTTP answer".to_owned())
                })?;
                Ok(compare(
                    self.op,
                    u64::from(status),
                    self.value.parse().unwrap_or(0),
                ))
            }
            Subject::ResponseTime => {
                let ms = u64::try_from(r.response_time.as_millis()).unwrap_or(u64::MAX);
                Ok(compare(self.op, ms, self.value.parse().unwrap_or(0)))
            }
            Subject::CertificateExpiration => {
                let left = r
                    .certificate_expires_in
                    .ok_or("no TLS certificate (not an https target)")?;
                Ok(compare(
                    self.op,
                    left,
                    parse_duration(&self.value).unwrap_or_default(),
                ))
            }
            Subject::Body(path) => {
                let body = r.body.as_deref().ok_or("no body")?;
                let found = if path.is_empty() {
                    Value::String(body.to_owned())
                } else {
                    let json: Value =
                        serde_json::from_str(body).map_err(|_| "body is not JSON".to_owned())?;
                    path.iter()
                        .try_fold(&json, |v, key| match key.parse::<usize>() {
                            Ok(i) if v.is_array() => v.get(i),
                            _ => v.get(key),
                        })
                        .cloned()
                        .ok_or_else(|| format!("body has no {}", path.join(".")))?
                };
                Ok(match (&found, self.value.parse::<f64>()) {
                    (Value::Number(n), Ok(want)) => {
                        compare(self.op, n.as_f64().unwrap_or(f64::NAN), want)
                    }
                    (Value::String(s), _) => compare(self.op, s.as_str(), self.value.as_str()),
                    (other, _) => compare(self.op, other.to_string().as_str(), self.value.as_str()),
                })
            }
        }
    }
}

/// All conditions must hold; the first failure explains itself.
pub fn evaluate_all(conditions: &[Condition], r: &CheckResult) -> Result<(), String> {
    for c in conditions {
        match c.evaluate(r) {
            Ok(true) => {}
            Ok(false) => return Err(format!("{} failed", c.text)),
            Err(why) => return Err(format!("{}: {why}", c.text)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: u16, ms: u64, body: &str) -> CheckResult {
        CheckResult {
            status: Some(status),
            response_time: Duration::from_millis(ms),
            body: Some(body.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn parses_the_four_placeholders() {
        assert_eq!(
            parse("[STATUS] == 200").expect("status").subject,
            Subject::Status
        );
        assert_eq!(parse("[RESPONSE_TIME] < 500").expect("rt").op, Op::Lt);
        let body = parse(r#"[BODY].checks.database.status == "healthy""#).expect("body");
        assert_eq!(
            body.subject,
            Subject::Body(vec!["checks".into(), "database".into(), "status".into()])
        );
        assert_eq!(body.value, "healthy");
        assert_eq!(
            parse("[BODY].items[1].ok == true").expect("index").subject,
            Subject::Body(vec!["items".into(), "1".into(), "ok".into()])
        );
        assert_eq!(
            parse("[CERTIFICATE_EXPIRATION] > 240h")
                .expect("cert")
                .value,
            "240h"
        );
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        for bad in [
            "STATUS == 200",
            "[STATUS] = 200",
            "[STATUS] ==",
            "[STATUS] == ok",
            "[LATENCY] < 5",
            "[STATUS].x == 1",
            "[CERTIFICATE_EXPIRATION] > soon",
            "[BODY]. == 1",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.to_string().contains(bad.trim()), "{e}");
        }
    }

    #[test]
    fn evaluates_against_a_result() {
        let ok = result(
            200,
            120,
            r#"{"status":"healthy","checks":{"database":{"latency":3}},"items":[1,2]}"#,
        );
        let conditions: Vec<Condition> = [
            "[STATUS] == 200",
            "[RESPONSE_TIME] < 500",
            "[BODY].status == healthy",
            "[BODY].checks.database.latency <= 5",
            "[BODY].items[1] == 2",
        ]
        .iter()
        .map(|c| parse(c).expect("parse"))
        .collect();
        assert_eq!(evaluate_all(&conditions, &ok), Ok(()));
        let slow = result(
            200,
            800,
            r#"{"status":"healthy","checks":{"database":{"latency":3}},"items":[1,2]}"#,
        );
        assert_eq!(
            evaluate_all(&conditions, &slow),
            Err("[RESPONSE_TIME] < 500 failed".into())
        );
        let down = CheckResult {
            error: Some("connection refused".into()),
            ..Default::default()
        };
        assert_eq!(
            evaluate_all(&conditions, &down),
            Err("[STATUS] == 200: connection refused".into())
        );
        let not_json = result(200, 1, "<html>");
        assert!(evaluate_all(&conditions[2..3], &not_json).is_err_and(|e| e.contains("not JSON")));
        let cert = parse("[CERTIFICATE_EXPIRATION] > 240h").expect("cert");
        let soon = CheckResult {
            certificate_expires_in: Some(Duration::from_secs(3600)),
            ..Default::default()
        };
        assert_eq!(cert.evaluate(&soon), Ok(false));
    }
}
