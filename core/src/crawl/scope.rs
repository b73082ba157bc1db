//! Which URLs belong to a source, and the one spelling of each URL.

use std::collections::HashSet;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::address::origin_of;

/// The kinds of scope, as stored in `javari_web_crawls.scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// Every page of the start URL's origin reached by links (and its sitemaps).
    Host,
    /// Pages of the start URL's origin whose path starts with the prefix.
    Prefix,
    /// Exactly the listed URLs.
    List,
    /// The pages a sitemap lists (the start URL is the sitemap), on its origin.
    Sitemap,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Host => "host",
            ScopeKind::Prefix => "prefix",
            ScopeKind::List => "list",
            ScopeKind::Sitemap => "sitemap",
        }
    }

    pub fn parse(text: &str) -> Option<ScopeKind> {
        match text {
            "host" => Some(ScopeKind::Host),
            "prefix" => Some(ScopeKind::Prefix),
            "list" => Some(ScopeKind::List),
            "sitemap" => Some(ScopeKind::Sitemap),
            _ => None,
        }
    }

    /// Whether links found on pages are followed.
    pub fn follows_links(self) -> bool {
        matches!(self, ScopeKind::Host | ScopeKind::Prefix)
    }
}

/// A source's scope, ready to test URLs.
#[derive(Clone, Debug)]
pub struct Scope {
    kind: ScopeKind,
    origin: Option<String>,
    prefix: String,
    list: HashSet<String>,
}

impl Scope {
    pub fn new(kind: ScopeKind, start: &Url, prefix: Option<&str>, list: &[Url]) -> Scope {
        Scope {
            kind,
            origin: origin_of(start),
            prefix: prefix.unwrap_or("/").to_owned(),
            list: list.iter().map(|u| normalize(u).to_string()).collect(),
        }
    }

    pub fn kind(&self) -> ScopeKind {
        self.kind
    }

    /// Whether `url` (normalised) is one of the source's pages.
    pub fn contains(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        match self.kind {
            ScopeKind::List => self.list.contains(url.as_str()),
            ScopeKind::Host | ScopeKind::Sitemap => origin_of(url) == self.origin,
            ScopeKind::Prefix => {
                origin_of(url) == self.origin && url.path().starts_with(&self.prefix)
            }
        }
    }
}

/// The URL without its fragment (one page, however it is linked to).
pub fn normalize(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

/// `href` resolved against `base`, normalised; `None` for unparsable or non-web links
/// (`mailto:`, `javascript:`).
pub fn resolve_link(base: &Url, href: &str) -> Option<Url> {
    let url = base.join(href.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| normalize(&url))
}

/// The default path prefix for a start URL: its directory (`/docs/` for `/docs/intro`).
pub fn default_prefix(start: &Url) -> String {
    let path = start.path();
    match path.rfind('/') {
        Some(i) => path[..=i].to_owned(),
        None => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn scopes() {
        let start = url("https://docs.example.com/guide/intro");
        let host = Scope::new(ScopeKind::Host, &start, None, &[]);
        assert!(host.contains(&url("https://docs.example.com/other")));
        assert!(host.contains(&url("https://DOCS.example.com:443/x")));
        assert!(!host.contains(&url("http://docs.example.com/other")));
        assert!(!host.contains(&url("https://evil.example.com/")));

        let prefix = Scope::new(
            ScopeKind::Prefix,
            &start,
            Some(&default_prefix(&start)),
            &[],
        );
        assert!(prefix.contains(&url("https://docs.example.com/guide/b")));
        assert!(!prefix.contains(&url("https://docs.example.com/blog/b")));

        let list = Scope::new(
            ScopeKind::List,
            &start,
            None,
            &[url("https://a.test/one#top"), url("https://b.test/two")],
        );
        assert!(list.contains(&url("https://a.test/one")));
        assert!(list.contains(&url("https://b.test/two")));
        assert!(!list.contains(&url("https://a.test/three")));
        assert!(!ScopeKind::List.follows_links());
    }

    #[test]
    fn links_resolve_and_lose_fragments() {
        let base = url("https://a.test/docs/page");
        assert_eq!(
            resolve_link(&base, "other#x")
                .map(|u| u.to_string())
                .as_deref(),
            Some("https://a.test/docs/other")
        );
        assert_eq!(
            resolve_link(&base, "/root")
                .map(|u| u.to_string())
                .as_deref(),
            Some("https://a.test/root")
        );
        assert_eq!(resolve_link(&base, "mailto:x@a.test"), None);
        assert_eq!(resolve_link(&base, "javascript:void(0)"), None);
        assert_eq!(default_prefix(&base), "/docs/");
        assert_eq!(ScopeKind::parse("prefix"), Some(ScopeKind::Prefix));
        assert_eq!(ScopeKind::parse("nope"), None);
    }
}
