//! Sitemaps (sitemaps.org): the `<loc>` of each `<url>`, or of each `<sitemap>` in an index.

use super::html::decode_entities;

/// Most URLs read from one sitemap (the protocol's own limit).
pub const MAX_SITEMAP_URLS: usize = 50_000;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sitemap {
    /// Page URLs (`<urlset>`).
    pub pages: Vec<String>,
    /// Further sitemaps (`<sitemapindex>`).
    pub sitemaps: Vec<String>,
}

pub fn parse(xml: &str) -> Sitemap {
    let index = xml.contains("<sitemapindex");
    let mut locs = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<loc>") {
        rest = &rest[start + 5..];
        let Some(end) = rest.find("</loc>") else {
            break;
        };
        let raw = rest[..end].trim();
        let raw = raw
            .strip_prefix("<![CDATA[")
            .and_then(|r| r.strip_suffix("]]>"))
            .unwrap_or(raw);
        let loc = decode_entities(raw).trim().to_owned();
        if !loc.is_empty() {
            locs.push(loc);
        }
        rest = &rest[end + 6..];
        if locs.len() >= MAX_SITEMAP_URLS {
            break;
        }
    }
    if index {
        Sitemap {
            pages: Vec::new(),
            sitemaps: locs,
        }
    } else {
        Sitemap {
            pages: locs,
            sitemaps: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlset_and_index() {
        let set = parse(
            r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc> https://a.test/x?a=1&amp;b=2 </loc><lastmod>2026-01-01</lastmod></url>
            <url><loc><![CDATA[https://a.test/y]]></loc></url></urlset>"#,
        );
        assert_eq!(
            set.pages,
            vec!["https://a.test/x?a=1&b=2", "https://a.test/y"]
        );
        assert!(set.sitemaps.is_empty());
        let index = parse(
            "<sitemapindex><sitemap><loc>https://a.test/s1.xml</loc></sitemap></sitemapindex>",
        );
        assert_eq!(index.sitemaps, vec!["https://a.test/s1.xml"]);
        assert!(index.pages.is_empty());
        assert_eq!(
            parse("<urlset><loc>unterminated").pages,
            Vec::<String>::new()
        );
    }
}
