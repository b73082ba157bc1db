//! robots.txt (RFC 9309): groups by user agent, Allow/Disallow with `*` and `$`, the longest
//! match winning (Allow on a tie), `Crawl-delay` and `Sitemap` lines.

/// Largest robots.txt read (RFC 9309 asks crawlers to parse at least 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 512 * 1024;

#[derive(Clone, Debug, Default, PartialEq)]
struct Group {
    agents: Vec<String>,
    rules: Vec<Rule>,
    crawl_delay: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
struct Rule {
    allow: bool,
    pattern: String,
}

/// A parsed robots.txt.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Robots {
    groups: Vec<Group>,
    /// `Sitemap:` URLs, as written.
    pub sitemaps: Vec<String>,
}

/// The rules that apply to one crawler.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
    /// Seconds between requests the site asks for.
    pub crawl_delay: Option<f64>,
    /// Everything disallowed: the site's robots.txt could not be read (RFC 9309 §2.3.1.4).
    disallow_all: bool,
}

impl Robots {
    pub fn parse(text: &str) -> Robots {
        let mut robots = Robots::default();
        let mut current: Option<Group> = None;
        // A group is consecutive user-agent lines followed by rules.
        let mut in_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" => {
                    if !in_agents {
                        if let Some(group) = current.take() {
                            robots.groups.push(group);
                        }
                        current = Some(Group::default());
                        in_agents = true;
                    }
                    if let Some(group) = current.as_mut() {
                        group.agents.push(value.to_ascii_lowercase());
                    }
                }
                "allow" | "disallow" => {
                    in_agents = false;
                    if let Some(group) = current.as_mut()
                        && !value.is_empty()
                    {
                        group.rules.push(Rule {
                            allow: key == "allow",
                            pattern: value.to_owned(),
                        });
                    }
                }
                "crawl-delay" => {
                    in_agents = false;
                    if let Some(group) = current.as_mut() {
                        group.crawl_delay = value
                            .parse::<f64>()
                            .ok()
                            .filter(|d| d.is_finite() && *d >= 0.0);
                    }
                }
                "sitemap" => {
                    // "Sitemap: http://..." splits at the first colon: put the scheme back.
                    let full = line[line.find(':').map_or(0, |i| i + 1)..].trim();
                    if !full.is_empty() {
                        robots.sitemaps.push(full.to_owned());
                    }
                }
                _ => {}
            }
        }
        if let Some(group) = current {
            robots.groups.push(group);
        }
        robots
    }

    /// The rules for the crawler whose product token is `product` (e.g. `javari`): the
    /// groups naming it, else the `*` groups, else none (everything allowed).
    pub fn rules_for(&self, product: &str) -> Rules {
        let product = product.to_ascii_lowercase();
        let named: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| {
                g.agents
                    .iter()
                    .any(|a| a != "*" && product.starts_with(a.as_str()))
            })
            .collect();
        let groups = if named.is_empty() {
            self.groups
                .iter()
                .filter(|g| g.agents.iter().any(|a| a == "*"))
                .collect()
        } else {
            named
        };
        Rules {
            rules: groups.iter().flat_map(|g| g.rules.clone()).collect(),
            crawl_delay: groups.iter().find_map(|g| g.crawl_delay),
            disallow_all: false,
        }
    }
}

impl Rules {
    /// Everything allowed: the site has no robots.txt (4xx).
    pub fn allow_all() -> Rules {
        Rules::default()
    }

    /// Everything disallowed: robots.txt unreachable (5xx, network error).
    pub fn disallow_all() -> Rules {
        Rules {
            disallow_all: true,
            ..Rules::default()
        }
    }

    /// Whether `path` (path and query of the URL, starting with `/`) may be fetched.
    pub fn allowed(&self, path: &str) -> bool {
        if self.disallow_all {
            return path == "/robots.txt";
        }
        let mut best: Option<(usize, bool)> = None;
        for rule in &self.rules {
            if matches(&rule.pattern, path) {
                let len = rule.pattern.len();
                best = match best {
                    Some((l, allow)) if l > len || (l == len && allow) => Some((l, allow)),
                    _ => Some((len, rule.allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// Whether the robots pattern (`*` any characters, a final `$` the end) matches the start of
/// `path`.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !path.starts_with(part) {
                return false;
            }
            pos = part.len();
            continue;
        }
        let last = i == parts.len() - 1;
        if last && anchored {
            // The last part must end the path, after `pos`.
            return path.len() >= pos + part.len() && path.ends_with(part);
        }
        match path[pos..].find(part) {
            Some(at) => pos += at + part.len(),
            None => return false,
        }
    }
    !anchored || pos == path.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROBOTS: &str = "\
# comment
User-agent: *
Disallow: /private
Allow: /private/public-note
Disallow: /*.pdf$
Crawl-delay: 2

User-agent: javari
User-agent: otherbot
Disallow: /javari-only-no
Crawl-delay: 0.5

Sitemap: https://example.com/sitemap.xml
";

    #[test]
    fn the_named_group_wins_over_star() {
        let robots = Robots::parse(ROBOTS);
        let ours = robots.rules_for("javari");
        assert!(!ours.allowed("/javari-only-no/x"));
        assert!(ours.allowed("/private"), "the * group does not apply");
        assert_eq!(ours.crawl_delay, Some(0.5));
        let others = robots.rules_for("somebot");
        assert!(!others.allowed("/private"));
        assert!(!others.allowed("/private/x?y=1"));
        assert!(others.allowed("/private/public-note"), "longer allow wins");
        assert!(!others.allowed("/docs/a.pdf"));
        assert!(
            others.allowed("/docs/a.pdf?download=1"),
            "$ anchors the end"
        );
        assert!(others.allowed("/"));
        assert_eq!(others.crawl_delay, Some(2.0));
        assert_eq!(robots.sitemaps, vec!["https://example.com/sitemap.xml"]);
    }

    #[test]
    fn ties_go_to_allow_and_empty_disallow_allows() {
        let robots = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\nDisallow:\n");
        assert!(robots.rules_for("javari").allowed("/a"));
        let robots = Robots::parse("User-agent: *\nDisallow:\n");
        assert!(robots.rules_for("javari").allowed("/anything"));
        assert!(Robots::parse("").rules_for("javari").allowed("/x"));
    }

    #[test]
    fn wildcards() {
        assert!(matches("/a*/c", "/abc/c/d"));
        assert!(!matches("/a*/c", "/abd"));
        assert!(matches("/*.php$", "/x/y.php"));
        assert!(!matches("/*.php$", "/x/y.php5"));
        assert!(matches("/fish$", "/fish"));
        assert!(!matches("/fish$", "/fishes"));
        assert!(matches("*", "/anything"));
    }

    #[test]
    fn unreachable_robots_disallows_everything_but_itself() {
        let rules = Rules::disallow_all();
        assert!(!rules.allowed("/"));
        assert!(rules.allowed("/robots.txt"));
        assert!(Rules::allow_all().allowed("/private"));
    }
}
