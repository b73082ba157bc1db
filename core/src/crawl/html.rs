//! HTML to text for the knowledge base: the main content (`<main>`, `<article>` or
//! `role="main"` when the page has one, else the body) without navigation, headers,
//! footers, forms and scripts; plus the title, the links and the robots meta tag.

/// What a page yields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HtmlPage {
    pub title: Option<String>,
    pub text: String,
    /// `href`s of `<a>` elements without `rel="nofollow"`, as written.
    pub links: Vec<String>,
    /// `<meta name="robots" content="noindex">`: do not store the page.
    pub noindex: bool,
    /// `<meta name="robots" content="nofollow">`: do not follow its links.
    pub nofollow: bool,
}

/// Elements whose content is never page text.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form",
    "iframe", "button", "select", "head", "object", "canvas",
];
/// Elements whose content is raw text up to their end tag (no markup inside).
const RAW: &[&str] = &["script", "style", "textarea", "title"];
/// Elements that break text into lines.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "section",
    "article",
    "main",
    "pre",
    "blockquote",
    "table",
    "ul",
    "ol",
    "dl",
    "dd",
    "dt",
    "hr",
    "figure",
    "figcaption",
    "details",
    "summary",
    "td",
    "th",
];
/// Elements without an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

struct Tag<'a> {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: &'a str,
}

/// Parses `html` (tolerantly: unclosed and stray tags are fine).
pub fn parse(html: &str) -> HtmlPage {
    let mut page = HtmlPage::default();
    let mut all = TextBuf::default();
    let mut main = TextBuf::default();
    // Open skipped elements and open main-content elements, as stacks of names.
    let mut skipping: Vec<String> = Vec::new();
    let mut mains: Vec<String> = Vec::new();
    let mut pre = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            emit(&mut all, &mut main, &skipping, &mains, pre, rest);
            break;
        };
        emit(&mut all, &mut main, &skipping, &mains, pre, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |i| &rest[i + 1..]);
            continue;
        }
        let Some((tag, after)) = read_tag(rest) else {
            // A lone '<' is text.
            emit(&mut all, &mut main, &skipping, &mains, pre, "<");
            rest = &rest[1..];
            continue;
        };
        rest = after;
        let name = tag.name.as_str();
        if !tag.closing && RAW.contains(&name) {
            let end = find_ci(rest, &format!("</{name}"));
            let body = &rest[..end.unwrap_or(rest.len())];
            if name == "title" && page.title.is_none() {
                let title = collapse(&decode_entities(body));
                if !title.is_empty() {
                    page.title = Some(title);
                }
            }
            rest = match end {
                Some(i) => rest[i..].find('>').map_or("", |j| &rest[i + j + 1..]),
                None => "",
            };
            if name == "textarea" && skipping.is_empty() {
                emit(&mut all, &mut main, &skipping, &mains, pre, body);
            }
            continue;
        }
        if tag.closing {
            close(&mut skipping, name);
            close(&mut mains, name);
            if name == "pre" {
                pre = pre.saturating_sub(1);
            }
        } else {
            match name {
                "a" => {
                    let rel = attr(tag.attrs, "rel")
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    if let Some(href) = attr(tag.attrs, "href")
                        && !rel.split_whitespace().any(|r| r == "nofollow")
                    {
                        page.links.push(href);
                    }
                }
                "meta" => {
                    let meta_name = attr(tag.attrs, "name").unwrap_or_default();
                    if meta_name.eq_ignore_ascii_case("robots")
                        || meta_name.eq_ignore_ascii_case("javari")
                    {
                        let content = attr(tag.attrs, "content")
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                        for directive in content.split(',').map(str::trim) {
                            match directive {
                                "noindex" => page.noindex = true,
                                "nofollow" => page.nofollow = true,
                                "none" => {
                                    page.noindex = true;
                                    page.nofollow = true;
                                }
                                _ => {}
                            }
                        }
                    }
                }
                "pre" => pre += 1,
                _ => {}
            }
            if name == "body" {
                // A `<head>` never closed ends where the body starts.
                close(&mut skipping, "head");
            }
            let void = tag.self_closing || VOID.contains(&name);
            // An article's own header and footer (its title, its date) are content.
            let inside_main = !mains.is_empty() && matches!(name, "header" | "footer");
            if !void && !inside_main && SKIPPED.contains(&name) {
                skipping.push(name.to_owned());
            }
            let role_main = attr(tag.attrs, "role").is_some_and(|r| r.eq_ignore_ascii_case("main"));
            if !void && (name == "main" || name == "article" || role_main) {
                mains.push(name.to_owned());
            }
        }
        if BLOCKS.contains(&name) {
            all.newline(name);
            main.newline(name);
        }
    }
    let main_text = main.finish();
    page.text = if main_text.trim().is_empty() {
        all.finish()
    } else {
        main_text
    };
    page
}

fn emit(
    all: &mut TextBuf,
    main: &mut TextBuf,
    skipping: &[String],
    mains: &[String],
    pre: usize,
    raw: &str,
) {
    if !skipping.is_empty() || raw.is_empty() {
        return;
    }
    let text = decode_entities(raw);
    all.push(&text, pre > 0);
    if !mains.is_empty() {
        main.push(&text, pre > 0);
    }
}

/// Closes the innermost open `name` (and anything left open inside it).
fn close(stack: &mut Vec<String>, name: &str) {
    if let Some(i) = stack.iter().rposition(|n| n == name) {
        stack.truncate(i);
    }
}

/// Text with whitespace collapsed inside lines and blank lines between blocks.
#[derive(Default)]
struct TextBuf {
    out: String,
    space: bool,
}

impl TextBuf {
    fn push(&mut self, text: &str, preformatted: bool) {
        if preformatted {
            self.out.push_str(text);
            self.space = false;
            return;
        }
        for c in text.chars() {
            if c.is_whitespace() {
                self.space = true;
            } else {
                if self.space && !self.out.is_empty() && !self.out.ends_with('\n') {
                    self.out.push(' ');
                }
                self.space = false;
                self.out.push(c);
            }
        }
    }

    fn newline(&mut self, tag: &str) {
        self.space = false;
        let paragraph = !matches!(tag, "br" | "li" | "tr" | "td" | "th" | "dd" | "dt");
        let want = if paragraph { "\n\n" } else { "\n" };
        let trailing = self.out.len() - self.out.trim_end_matches('\n').len();
        if !self.out.is_empty() && trailing < want.len() {
            self.out.push_str(&want[trailing..]);
        }
    }

    fn finish(self) -> String {
        self.out.trim().to_owned()
    }
}

/// Reads `<name attrs>` or `</name>` at the start of `s`; the tag and what follows it.
fn read_tag(s: &str) -> Option<(Tag<'_>, &str)> {
    let body = s.strip_prefix('<')?;
    let (closing, body) = match body.strip_prefix('/') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
        .unwrap_or(body.len());
    if name_len == 0 || !body.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let name = body[..name_len].to_ascii_lowercase();
    // The end of the tag: the first '>' outside quotes.
    let mut quote: Option<char> = None;
    let mut end = None;
    for (i, c) in body[name_len..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => {
                end = Some(name_len + i);
                break;
            }
            _ => {}
        }
    }
    let end = end?;
    let attrs = &body[name_len..end];
    Some((
        Tag {
            name,
            closing,
            self_closing: attrs.trim_end().ends_with('/'),
            attrs,
        },
        &body[end + 1..],
    ))
}

/// The decoded value of attribute `name` in a tag's attribute text.
fn attr(attrs: &str, name: &str) -> Option<String> {
    let bytes = attrs.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = attrs.get(start..i).unwrap_or_default();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let q = bytes[i];
                let vstart = i + 1;
                i = vstart;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
                value = attrs.get(vstart..i.min(attrs.len())).unwrap_or_default();
                i += 1;
            } else {
                let vstart = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = attrs.get(vstart..i).unwrap_or_default();
            }
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(decode_entities(value).trim().to_owned());
        }
        if key.is_empty() {
            // A stray character: skip it whole.
            i += attrs
                .get(i..)
                .and_then(|r| r.chars().next())
                .map_or(1, char::len_utf8);
        }
    }
    None
}

/// Case-insensitive ASCII find.
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes character references: numeric ones and the common named ones.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            "ndash" => Some('–'),
            "mdash" => Some('—'),
            "hellip" => Some('…'),
            "copy" => Some('©'),
            "rsquo" => Some('’'),
            "lsquo" => Some('‘'),
            "rdquo" => Some('”'),
            "ldquo" => Some('“'),
            _ => name.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32).filter(|c| *c != '\0')
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = rest[end..].strip_prefix(';').unwrap_or(&rest[end..]);
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>Runbook &amp; Guide</title>
<meta name="description" content="x">
<style>body { color: red }</style>
<script>var nav = "<main>not this</main>";</script></head>
<body>
<header><h1>Site header</h1></header>
<nav><a href="/docs/a">Docs A</a> <a href='/docs/b?x=1&amp;y=2'>B</a></nav>
<main>
  <h1>Rotate   the keys</h1>
  <p>First, <b>drain</b> the queue.<br>Then restart.</p>
  <!-- a comment <p>hidden</p> -->
  <ul><li>one</li><li>two &lt;3</li></ul>
  <pre>line 1
  line 2</pre>
  <a href="/docs/c" rel="nofollow">C</a>
  <form><input name="q"><button>Search</button></form>
</main>
<footer>Copyright &copy; 2026</footer>
</body></html>"#;

    #[test]
    fn main_content_without_navigation_or_scripts() {
        let page = parse(PAGE);
        assert_eq!(page.title.as_deref(), Some("Runbook & Guide"));
        assert!(page.text.starts_with("Rotate the keys"), "{}", page.text);
        assert!(page.text.contains("First, drain the queue.\nThen restart."));
        assert!(page.text.contains("one\ntwo <3"));
        assert!(page.text.contains("line 1\n  line 2"));
        for absent in [
            "Site header",
            "Docs A",
            "color: red",
            "not this",
            "hidden",
            "Search",
            "Copyright",
        ] {
            assert!(!page.text.contains(absent), "{absent} in {}", page.text);
        }
        assert_eq!(page.links, vec!["/docs/a", "/docs/b?x=1&y=2"]);
        assert!(!page.noindex && !page.nofollow);
    }

    #[test]
    fn the_body_when_there_is_no_main_element() {
        let page = parse("<body><nav>menu</nav><div>Alpha</div><div>Beta</div></body>");
        assert_eq!(page.text, "Alpha\n\nBeta");
    }

    #[test]
    fn robots_meta_and_sloppy_markup() {
        let page = parse(
            "<meta name=ROBOTS content='noindex, nofollow'><p>a < b<p>c &#x41;&#66;&bogus; <a href=/x>x</a><div",
        );
        assert!(page.noindex && page.nofollow);
        assert!(page.text.contains("a < b"));
        assert!(page.text.contains("c AB&bogus; x"), "{}", page.text);
        assert_eq!(page.links, vec!["/x"]);
    }

    #[test]
    fn unclosed_script_swallows_the_rest_only() {
        let page = parse("<p>kept</p><script>never ends");
        assert_eq!(page.text, "kept");
    }
}
