//! A fetched page as text, by its content type: HTML here, Markdown, PDF and plain text
//! through the knowledge base's extractors (the same ones uploads use).

use reqwest::Url;

use super::html;
use crate::knowledge::{self, KnowledgeError};

/// Links read from one page at most.
pub const MAX_LINKS_PER_PAGE: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    Html,
    Markdown,
    Pdf,
    Text,
}

/// The kind of page by its `Content-Type`, or by the URL's extension when the server says
/// nothing more useful than `application/octet-stream`.
pub fn kind_of(content_type: Option<&str>, url: &Url) -> Option<PageKind> {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => return Some(PageKind::Html),
        "text/markdown" | "text/x-markdown" => return Some(PageKind::Markdown),
        "application/pdf" => return Some(PageKind::Pdf),
        "" | "application/octet-stream" | "text/plain" => {}
        _ => return None,
    }
    let path = url.path().to_ascii_lowercase();
    if path.ends_with(".md") || path.ends_with(".markdown") {
        Some(PageKind::Markdown)
    } else if path.ends_with(".pdf") {
        Some(PageKind::Pdf)
    } else if mime == "text/plain" {
        Some(PageKind::Text)
    } else {
        None
    }
}

/// The text of a page and what it says about crawling.
#[derive(Clone, Debug, PartialEq)]
pub struct PageText {
    /// As stored in `javari_knowledge_documents.file_type`.
    pub file_type: &'static str,
    pub title: Option<String>,
    pub text: String,
    pub links: Vec<String>,
    pub noindex: bool,
    pub nofollow: bool,
}

/// Extracts a page's text. CPU work (PDF above all): call it off the async workers.
pub fn page_text(kind: PageKind, bytes: &[u8]) -> Result<PageText, KnowledgeError> {
    let from_extractor = |name: &str| -> Result<PageText, KnowledgeError> {
        let extracted = knowledge::extract(name, bytes)?;
        Ok(PageText {
            file_type: extracted.file_type,
            title: None,
            text: extracted.text,
            links: Vec::new(),
            noindex: false,
            nofollow: false,
        })
    };
    match kind {
        PageKind::Markdown => from_extractor("page.md"),
        PageKind::Pdf => from_extractor("page.pdf"),
        PageKind::Text => from_extractor("page.txt"),
        PageKind::Html => {
            if bytes.len() > knowledge::MAX_UPLOAD_BYTES {
                return Err(KnowledgeError::TooLarge {
                    limit: knowledge::MAX_UPLOAD_BYTES,
                });
            }
            let source = String::from_utf8_lossy(bytes);
            let mut page = html::parse(&source);
            page.links.truncate(MAX_LINKS_PER_PAGE);
            let text = page.text.replace('\0', "");
            Ok(PageText {
                file_type: "html",
                title: page.title,
                text,
                links: page.links,
                noindex: page.noindex,
                nofollow: page.nofollow,
            })
        }
    }
}

/// The hash that decides whether a page changed: of what is stored (type, title, text), so
/// markup-only changes (a new build id, a rotated nonce) do not re-index the page.
pub fn text_hash(page: &PageText) -> String {
    let mut material = Vec::with_capacity(page.text.len() + 64);
    material.extend_from_slice(page.file_type.as_bytes());
    material.push(0);
    material.extend_from_slice(page.title.as_deref().unwrap_or_default().as_bytes());
    material.push(0);
    material.extend_from_slice(page.text.as_bytes());
    knowledge::content_hash(&material)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn kinds_by_content_type_then_extension() {
        let page = url("https://a.test/docs/page");
        assert_eq!(
            kind_of(Some("text/html; charset=utf-8"), &page),
            Some(PageKind::Html)
        );
        assert_eq!(kind_of(Some("application/pdf"), &page), Some(PageKind::Pdf));
        assert_eq!(
            kind_of(Some("text/markdown"), &page),
            Some(PageKind::Markdown)
        );
        assert_eq!(
            kind_of(Some("text/plain"), &url("https://a.test/r.md")),
            Some(PageKind::Markdown)
        );
        assert_eq!(kind_of(Some("text/plain"), &page), Some(PageKind::Text));
        assert_eq!(
            kind_of(None, &url("https://a.test/a.pdf")),
            Some(PageKind::Pdf)
        );
        assert_eq!(kind_of(Some("image/png"), &page), None);
        assert_eq!(kind_of(None, &page), None);
    }

    #[test]
    fn markdown_goes_through_the_extractor_and_html_markup_does_not_change_the_hash() {
        let md = page_text(PageKind::Markdown, b"# Title\n\nBody").expect("md");
        assert_eq!(md.file_type, "md");
        assert!(md.text.contains("Body"));
        let a = page_text(
            PageKind::Html,
            b"<main><p>Same text</p></main><script>1</script>",
        )
        .expect("html");
        let b = page_text(
            PageKind::Html,
            b"<main><p class=x>Same   text</p></main><script>2</script>",
        )
        .expect("html");
        assert_eq!(text_hash(&a), text_hash(&b));
        let c = page_text(PageKind::Html, b"<main><p>Other text</p></main>").expect("html");
        assert_ne!(text_hash(&a), text_hash(&c));
    }
}
