//! Server-rendered SVG charts and badges: pure functions from numbers to markup, readable
//! without JavaScript, each with a `<title>` (and `role="img"`) for screen readers. Every
//! piece of text is escaped.

use std::fmt::Write;

/// Escapes text for SVG/XML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Approximate width of `text` in 11 px Verdana, as Shields estimates it.
fn text_width(text: &str) -> u32 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | '.' | ',' | ':' | '|' | '!' | '\'' | ' ' => 4,
            'm' | 'w' | 'M' | 'W' | '%' => 10,
            c if c.is_ascii_uppercase() => 8,
            _ => 7,
        })
        .sum()
}

/// A flat two-part badge: `label | message`, the message on `color`.
pub fn badge(label: &str, message: &str, color: &str) -> String {
    let lw = text_width(label) + 12;
    let mw = text_width(message) + 12;
    let w = lw + mw;
    let (label, message, color) = (escape(label), escape(message), escape(color));
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {m}">"#,
            r#"<title>{l}: {m}</title>"#,
            r##"<rect width="{lw}" height="20" rx="3" fill="#555"/>"##,
            r#"<rect x="{lw}" width="{mw}" height="20" rx="3" fill="{c}"/>"#,
            r#"<rect x="{lw}" width="4" height="20" fill="{c}"/>"#,
            r##"<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">"##,
            r#"<text x="{lx}" y="14">{l}</text><text x="{mx}" y="14">{m}</text></g></svg>"#
        ),
        w = w,
        lw = lw,
        mw = mw,
        l = label,
        m = message,
        c = color,
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

/// The colour of an uptime percentage (grey without checks).
pub fn uptime_color(uptime: Option<f64>) -> &'static str {
    match uptime {
        None => "#9e9e9e",
        Some(u) if u >= 99.9 => "#2e7d32",
        Some(u) if u >= 99.0 => "#7cb342",
        Some(u) if u >= 95.0 => "#f9a825",
        Some(_) => "#c62828",
    }
}

/// `99.95%`, `100%`, or `no data`.
pub fn percent(uptime: Option<f64>) -> String {
    match uptime {
        None => "no data".to_owned(),
        Some(u) if u >= 100.0 => "100%".to_owned(),
        // Never round a failing window up to 100%.
        Some(u) => format!("{:.2}%", (u * 100.0).floor() / 100.0),
    }
}

/// One bar of an uptime strip.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub uptime: Option<f64>,
    pub checks: i64,
}

/// Uptime as a strip of bars (a day each, oldest first), each with its own title.
pub fn uptime_bars(title: &str, bars: &[Bar]) -> String {
    let bar_w = 6;
    let gap = 2;
    let h = 34;
    let w = (bars.len() as u32 * (bar_w + gap)).max(1);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" height="{h}" preserveAspectRatio="none" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let x = i as u32 * (bar_w + gap);
        let _ = write!(
            out,
            r#"<rect x="{x}" y="0" width="{bar_w}" height="{h}" rx="1" fill="{c}"><title>{l}: {p} ({n} checks)</title></rect>"#,
            c = uptime_color(bar.uptime),
            l = escape(&bar.label),
            p = percent(bar.uptime),
            n = bar.checks,
        );
    }
    out.push_str("</svg>");
    out
}

/// A line of a chart; `None` leaves a gap.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: String,
    pub values: Vec<Option<f64>>,
}

/// A round number at or above `max` (1, 2, 5 × 10ⁿ), so the axis reads well.
pub fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// A line chart over `x_labels` (first and last are printed), y from 0 to a round maximum
/// in `unit`. The title and a `<desc>` with each series' last value describe it in words.
pub fn line_chart(title: &str, unit: &str, x_labels: &[String], series: &[Series]) -> String {
    let (w, h, left, bottom, top) = (600.0, 160.0, 44.0, 20.0, 8.0);
    let n = x_labels.len().max(2);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, b| a.max(*b));
    let ceiling = nice_ceiling(max);
    let x = |i: usize| left + (w - left - 4.0) * i as f64 / (n - 1) as f64;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / ceiling);
    let desc: Vec<String> = series
        .iter()
        .map(|s| {
            let last = s.values.iter().rev().flatten().next();
            match last {
                Some(v) => format!("{} latest {}{}", s.name, fmt_number(*v), unit),
                None => format!("{} no data", s.name),
            }
        })
        .collect();
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}"><title>{t}</title><desc>{d}</desc>"#,
        t = escape(title),
        d = escape(&desc.join("; ")),
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = ceiling * frac;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{w}" y1="{y:.1}" y2="{y:.1}" stroke="#8884" stroke-width="1"/><text x="{tx}" y="{ty:.1}" font-size="10" text-anchor="end" fill="currentColor">{v}{u}</text>"##,
            y = y(v),
            tx = left - 4.0,
            ty = y(v) + 3.0,
            v = fmt_number(v),
            u = escape(unit),
        );
    }
    if let (Some(first), Some(last)) = (x_labels.first(), x_labels.last()) {
        let _ = write!(
            out,
            r#"<text x="{left}" y="{b}" font-size="10" fill="currentColor">{f}</text><text x="{w}" y="{b}" font-size="10" text-anchor="end" fill="currentColor">{l}</text>"#,
            b = h - 4.0,
            f = escape(first),
            l = escape(last),
        );
    }
    for s in series {
        let mut segment: Vec<String> = Vec::new();
        let mut segments: Vec<Vec<String>> = Vec::new();
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => segment.push(format!("{:.1},{:.1}", x(i), y(*v))),
                None if !segment.is_empty() => segments.push(std::mem::take(&mut segment)),
                None => {}
            }
        }
        if !segment.is_empty() {
            segments.push(segment);
        }
        for points in segments {
            if points.len() == 1 {
                let (px, py) = points[0].split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    out,
                    r#"<circle cx="{px}" cy="{py}" r="2" fill="{c}"><title>{n}</title></circle>"#,
                    c = escape(&s.color),
                    n = escape(&s.name)
                );
            } else {
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{p}"><title>{n}</title></polyline>"#,
                    c = escape(&s.color),
                    p = points.join(" "),
                    n = escape(&s.name)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

fn fmt_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_carry_their_words_and_escape_them() {
        let svg = badge("api <prod>", "operational", "#2e7d32");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title>api &lt;prod&gt;: operational</title>"));
        assert!(svg.contains(r##"fill="#2e7d32""##));
        assert!(!svg.contains("<prod>"));
        let wider = badge("api <prod>", "major outage everywhere", "#b3261e");
        let width = |s: &str| -> u32 {
            s.split("width=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        assert!(width(&wider) > width(&svg));
    }

    #[test]
    fn percentages_never_round_up_to_a_perfect_score() {
        assert_eq!(percent(Some(99.999)), "99.99%");
        assert_eq!(percent(Some(100.0)), "100%");
        assert_eq!(percent(Some(50.0)), "50.00%");
        assert_eq!(percent(None), "no data");
        assert_eq!(uptime_color(Some(99.95)), "#2e7d32");
        assert_eq!(uptime_color(Some(90.0)), "#c62828");
        assert_eq!(uptime_color(None), "#9e9e9e");
    }

    #[test]
    fn uptime_bars_have_a_title_each() {
        let bars = vec![
            Bar {
                label: "2026-11-27".into(),
                uptime: Some(100.0),
                checks: 10,
            },
            Bar {
                label: "2026-11-28".into(),
                uptime: Some(90.0),
                checks: 10,
            },
            Bar {
                label: "2026-11-29".into(),
                uptime: None,
                checks: 0,
            },
        ];
        let svg = uptime_bars("web uptime, 3 days", &bars);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("<title>web uptime, 3 days</title>"));
        assert!(svg.contains("<title>2026-11-28: 90.00% (10 checks)</title>"));
        assert!(svg.contains("<title>2026-11-29: no data (0 checks)</title>"));
    }

    #[test]
    fn line_charts_scale_to_a_round_maximum_and_break_at_gaps() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(500.0), 500.0);
        let labels: Vec<String> = (0..4).map(|i| format!("{i}:00")).collect();
        let svg = line_chart(
            "Response time",
            " ms",
            &labels,
            &[Series {
                name: "p95".into(),
                color: "#c00".into(),
                values: vec![Some(100.0), Some(120.0), None, Some(80.0)],
            }],
        );
        assert!(svg.contains("<title>Response time</title>"));
        assert!(svg.contains("<desc>p95 latest 80 ms</desc>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 1);
        // The axis tops out at 200 ms: the highest point (120) sits below the top line.
        assert!(svg.contains(">200 ms</text>"));
        assert!(svg.contains(">0:00</text>") && svg.contains(">3:00</text>"));
    }
}
