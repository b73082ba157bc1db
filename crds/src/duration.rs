//! Durations as written in manifests: `30s`, `5m`, `7d`, `1h30m`, `500ms`.

use std::time::Duration;

/// The OpenAPI pattern the API server checks for every duration field.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h|d|w))+$";

/// Longest duration string: keeps the cost of the CEL rules that compare durations (see
/// [`cel_duration_ms`]) within the API server's budget.
pub const DURATION_MAX_LENGTH: u32 = 32;

/// A CEL expression for the milliseconds of the duration at `$path` (a string in the
/// [`DURATION_PATTERN`] language: the sum of its `<number><unit>` parts), for rules that
/// compare durations (`30s` against `1h30m`, `7d` against a number of days). Uses the
/// Kubernetes regex (`findAll`, `find`) and list (`sum`) CEL libraries.
#[macro_export]
macro_rules! cel_duration_ms {
    ($path:literal) => {
        concat!(
            "(",
            $path,
            ".findAll('[0-9]+(ms|s|m|h|d|w)').map(p, int(p.find('^[0-9]+')) * \
             (p.endsWith('ms') ? 1 : p.endsWith('s') ? 1000 : p.endsWith('m') ? 60000 : \
             p.endsWith('h') ? 3600000 : p.endsWith('d') ? 86400000 : 604800000)).sum())"
        )
    };
}

/// The OpenAPI pattern for cron fields: a macro such as `@daily`, or five or six fields
/// (seconds optional) of digits, names, `*`, `,`, `-`, `/`, `?`, `L`, `W`, `#`.
pub const CRON_PATTERN: &str = r"^(@(yearly|annually|monthly|weekly|daily|hourly)|([0-9A-Za-z*,/?#-]+[ \t]+){4,5}[0-9A-Za-z*,/?#-]+)$";

/// Why a duration string is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (expected e.g. 30s, 5m, 7d, 1h30m)")]
pub struct ParseDurationError {
    input: String,
    reason: &'static str,
}

/// Parses a manifest duration. Accepts the same language as [`DURATION_PATTERN`].
pub fn parse_duration(input: &str) -> Result<Duration, ParseDurationError> {
    let err = |reason| ParseDurationError {
        input: input.to_owned(),
        reason,
    };
    if input.is_empty() {
        return Err(err("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = input;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("a number must come before each unit"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| err("number too large"))?;
        rest = &rest[digits..];
        let (unit_ms, unit_len) = match rest.as_bytes() {
            [b'm', b's', ..] => (1, 2),
            [b's', ..] => (1_000, 1),
            [b'm', ..] => (60_000, 1),
            [b'h', ..] => (3_600_000, 1),
            [b'd', ..] => (86_400_000, 1),
            [b'w', ..] => (604_800_000, 1),
            _ => return Err(err("unknown or missing unit")),
        };
        rest = &rest[unit_len..];
        let part = value.checked_mul(unit_ms).ok_or_else(|| err("too large"))?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(|| err("too large"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "",
            "30",
            "s",
            "7 d",
            "1.5h",
            "7days",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn pattern_and_parser_agree_on_examples() {
        // The schema pattern is the API server's check; the parser must accept all it accepts.
        for good in ["1s", "30s", "10m", "7d", "1h30m", "250ms", "1w2d"] {
            assert!(parse_duration(good).is_ok(), "{good}");
        }
    }
}
