//! Web sources crawled into the knowledge base (`javari_web_crawls`).
//!
//! Pure parts: which addresses may be reached ([`address`]), robots.txt ([`robots`]), scope
//! ([`scope`]), HTML to text ([`html`]), sitemaps ([`sitemap`]), schedules ([`schedule`]).
//! Edges: the HTTP fetcher ([`fetch`]), the store ([`store`]), the crawl itself
//! ([`crawler`]), per-source locking ([`job`]) and the schedule ([`scheduler`]).

pub mod address;
pub mod crawler;
mod error;
pub mod fetch;
pub mod html;
pub mod job;
pub mod page;
pub mod robots;
pub mod schedule;
pub mod scheduler;
pub mod scope;
pub mod sitemap;
pub mod store;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use crawler::{CrawlOutcome, OnStored, crawl};
pub use error::CrawlError;
pub use fetch::FetchLimits;
pub use job::{CrawlJob, Trigger};
pub use store::{PageError, Run, Source, SourceFields};

use address::NetworkPolicy;
use scope::{ScopeKind, default_prefix};

/// Longest URL accepted.
pub const MAX_URL_LENGTH: usize = 2048;
/// Most URLs in a list scope.
pub const MAX_LIST_URLS: usize = 1000;
pub const DEFAULT_MAX_DEPTH: i32 = 3;
pub const MAX_DEPTH: i32 = 10;
pub const DEFAULT_MAX_PAGES: i32 = 200;
pub const MAX_PAGES: i32 = 5000;

/// A source as submitted (API or form); `None` takes the default.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceInput {
    pub name: Option<String>,
    pub url: String,
    pub scope: Option<String>,
    pub path_prefix: Option<String>,
    pub urls: Option<Vec<String>>,
    pub max_depth: Option<i32>,
    pub max_pages: Option<i32>,
    pub crawl_frequency: Option<String>,
    pub is_active: Option<bool>,
    pub project_id: Option<Uuid>,
    /// Admins only: allow the start URL's origin on a private network.
    pub allow_private_network: Option<bool>,
}

fn check_web_url(text: &str) -> Result<reqwest::Url, CrawlError> {
    if text.len() > MAX_URL_LENGTH {
        return Err(CrawlError::Invalid(format!(
            "URLs must be at most {MAX_URL_LENGTH} characters"
        )));
    }
    let url = crawler::parse_url(text)?;
    // Scheme and credentials now; addresses when crawling (they may resolve differently,
    // and an admin may allow the origin later).
    match NetworkPolicy::default().check_url(&url) {
        Err(
            e @ (address::Refusal::Scheme(_)
            | address::Refusal::Credentials
            | address::Refusal::NoHost),
        ) => Err(e.into()),
        _ => Ok(url),
    }
}

/// Checks a submitted source and fills in the defaults: scope `host`, depth 3, 200 pages,
/// daily at 02:00 UTC, the path prefix from the start URL's directory.
pub fn validate_source(
    input: &SourceInput,
    now: DateTime<Utc>,
) -> Result<SourceFields, CrawlError> {
    let url = check_web_url(&input.url)?;
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| url.host_str().unwrap_or_default().to_owned());
    if name.chars().count() > 200 || name.contains('\0') {
        return Err(CrawlError::Invalid(
            "name must be at most 200 characters, without NUL".into(),
        ));
    }
    let scope_text = input.scope.as_deref().unwrap_or("host");
    let scope = ScopeKind::parse(scope_text).ok_or_else(|| {
        CrawlError::Invalid(format!(
            "scope must be host, prefix, list or sitemap, not {scope_text:?}"
        ))
    })?;
    let path_prefix = match scope {
        ScopeKind::Prefix => {
            let prefix = input
                .path_prefix
                .clone()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| default_prefix(&url));
            if !prefix.starts_with('/') || prefix.contains('\0') {
                return Err(CrawlError::Invalid("pathPrefix must start with /".into()));
            }
            Some(prefix)
        }
        _ => None,
    };
    let urls = input.urls.clone().unwrap_or_default();
    if urls.len() > MAX_LIST_URLS {
        return Err(CrawlError::Invalid(format!(
            "at most {MAX_LIST_URLS} URLs in a list"
        )));
    }
    let urls: Vec<String> = urls
        .iter()
        .map(|u| check_web_url(u).map(|u| u.to_string()))
        .collect::<Result<_, _>>()?;
    let urls = match scope {
        ScopeKind::List if urls.is_empty() => vec![url.to_string()],
        ScopeKind::List => urls,
        _ if !urls.is_empty() => {
            return Err(CrawlError::Invalid("urls is for scope list only".into()));
        }
        _ => urls,
    };
    let max_depth = input.max_depth.unwrap_or(DEFAULT_MAX_DEPTH);
    if !(0..=MAX_DEPTH).contains(&max_depth) {
        return Err(CrawlError::Invalid(format!(
            "maxDepth must be between 0 and {MAX_DEPTH}"
        )));
    }
    let max_pages = input.max_pages.unwrap_or(DEFAULT_MAX_PAGES);
    if !(1..=MAX_PAGES).contains(&max_pages) {
        return Err(CrawlError::Invalid(format!(
            "maxPages must be between 1 and {MAX_PAGES}"
        )));
    }
    let crawl_frequency = input
        .crawl_frequency
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or(schedule::DEFAULT_SCHEDULE)
        .to_owned();
    schedule::validate(&crawl_frequency, now)?;
    let next_crawl_at = schedule::next_crawl(&crawl_frequency, now)?;
    Ok(SourceFields {
        project_id: input.project_id,
        name,
        url: url.to_string(),
        scope: scope.as_str().to_owned(),
        path_prefix,
        urls,
        max_depth,
        max_pages,
        crawl_frequency,
        is_active: input.is_active.unwrap_or(true),
        next_crawl_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> SourceInput {
        SourceInput {
            url: url.into(),
            ..SourceInput::default()
        }
    }

    #[test]
    fn defaults_follow_the_operations_guide() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let f =
            validate_source(&input("https://docs.example.com/guide/intro"), now).expect("valid");
        assert_eq!(f.name, "docs.example.com");
        assert_eq!(f.scope, "host");
        assert_eq!(f.crawl_frequency, "0 2 * * *");
        assert_eq!(f.next_crawl_at.to_rfc3339(), "2026-11-29T02:00:00+00:00");
        assert_eq!((f.max_depth, f.max_pages), (3, 200));
        let prefix = validate_source(
            &SourceInput {
                scope: Some("prefix".into()),
                ..input("https://docs.example.com/guide/intro")
            },
            now,
        )
        .expect("valid");
        assert_eq!(prefix.path_prefix.as_deref(), Some("/guide/"));
    }

    #[test]
    fn bad_sources_are_refused_with_a_reason() {
        let now = Utc::now();
        let refused = |i: SourceInput| validate_source(&i, now).expect_err("refused").to_string();
        assert!(refused(input("ftp://example.com/")).contains("only http and https"));
        assert!(refused(input("not a url")).contains("invalid URL"));
        assert!(refused(input("https://u:p@example.com/")).contains("user name or password"));
        assert!(
            refused(SourceInput {
                scope: Some("web".into()),
                ..input("https://a.test/")
            })
            .contains("scope must be")
        );
        assert!(
            refused(SourceInput {
                max_pages: Some(0),
                ..input("https://a.test/")
            })
            .contains("maxPages")
        );
        assert!(
            refused(SourceInput {
                max_depth: Some(11),
                ..input("https://a.test/")
            })
            .contains("maxDepth")
        );
        assert!(
            refused(SourceInput {
                crawl_frequency: Some("* * * * *".into()),
                ..input("https://a.test/")
            })
            .contains("more often")
        );
        assert!(
            refused(SourceInput {
                urls: Some(vec!["https://b.test/".into()]),
                ..input("https://a.test/")
            })
            .contains("list only")
        );
        assert!(
            refused(input(&format!("https://a.test/{}", "x".repeat(3000))))
                .contains("at most 2048")
        );
    }
}
