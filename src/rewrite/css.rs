//! The URLs a browser fetches from CSS text (a `style` attribute, a `<style>` sheet), found
//! the way the CSS tokenizer finds them, so that spelling cannot hide one:
//!
//! - escapes are decoded first (CSS Syntax §4.3.7): `u\72l(` is `url(`, `facebook\2e com`
//!   is `facebook.com`;
//! - function names are ASCII case-insensitive (§4.3.4): `Url(`, `URL(`;
//! - a quoted string is a URL wherever CSS takes one: `@import "…"`, `image-set("…" 1x)`,
//!   `src("…")` — so every string is a candidate (a tracker's address in `content: "…"`
//!   loads nothing, and neutralising it costs nothing either).
//!
//! Ranges are given in the text as written, so a caller replaces exactly what was there.

use std::borrow::Cow;
use std::ops::Range;

/// How a found URL is written, which decides what may replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `url(…)`: `none` takes its place (an image-less background).
    Function,
    /// `"…"` or `'…'`: an empty `data:` URL takes its place (fetches nothing).
    String,
}

impl Form {
    pub fn inert(self) -> &'static str {
        match self {
            Form::Function => "none",
            Form::String => "\"data:,\"",
        }
    }
}

/// One URL candidate: where it is written in the original text, its decoded value, how.
#[derive(Debug)]
pub struct Found {
    pub range: Range<usize>,
    pub url: String,
    pub form: Form,
}

/// Whether `css` could name a URL at all: every form needs a `(` or a quote, and an
/// escape or character reference could spell either. Most `style` attributes
/// (`display:none;width:10px`) have none and skip the scan.
pub fn may_have_urls(css: &str) -> bool {
    css.bytes()
        .any(|b| matches!(b, b'(' | b'"' | b'\'' | b'\\' | b'&'))
}

/// Every `url(…)` and quoted string in `css`, in order.
pub fn urls(css: &str) -> Vec<Found> {
    let decoded = Decoded::new(css);
    let text = decoded.text.as_ref();
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                let Some(len) = text[i + 1..].find(quote as char) else {
                    break;
                };
                let end = i + 1 + len + 1;
                found.push(Found {
                    range: decoded.original(i)..decoded.original(end),
                    url: text[i + 1..end - 1].to_owned(),
                    form: Form::String,
                });
                i = end;
            }
            b'u' | b'U'
                if bytes.len() - i >= 4 && bytes[i..i + 4].eq_ignore_ascii_case(b"url(") =>
            {
                let Some(len) = text[i + 4..].find(')') else {
                    break;
                };
                let end = i + 4 + len + 1;
                let inner = text[i + 4..end - 1]
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'');
                found.push(Found {
                    range: decoded.original(i)..decoded.original(end),
                    url: inner.to_owned(),
                    form: Form::Function,
                });
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

/// CSS text with its escapes decoded, and for each decoded byte where it was written.
struct Decoded<'a> {
    text: Cow<'a, str>,
    /// `None`: nothing was escaped, offsets are the same.
    origin: Option<Vec<usize>>,
}

impl Decoded<'_> {
    fn new(css: &str) -> Decoded<'_> {
        if !css.contains('\\') {
            return Decoded {
                text: Cow::Borrowed(css),
                origin: None,
            };
        }
        let mut text = String::with_capacity(css.len());
        let mut origin = Vec::with_capacity(css.len() + 1);
        let mut chars = css.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let decoded = if c != '\\' {
                c
            } else {
                let mut hex = String::new();
                while hex.len() < 6
                    && let Some(&(_, h)) = chars.peek()
                    && h.is_ascii_hexdigit()
                {
                    hex.push(h);
                    chars.next();
                }
                if hex.is_empty() {
                    match chars.next() {
                        // An escaped newline continues a string: nothing (§4.3.5).
                        Some((_, '\n')) => continue,
                        Some((_, other)) => other,
                        None => '\u{FFFD}',
                    }
                } else {
                    // One whitespace after a hex escape belongs to it (§4.3.7).
                    if chars.peek().is_some_and(|&(_, w)| w.is_ascii_whitespace()) {
                        chars.next();
                    }
                    u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|&n| n != 0)
                        .and_then(char::from_u32)
                        .unwrap_or('\u{FFFD}')
                }
            };
            text.push(decoded);
            origin.resize(text.len(), at);
        }
        origin.push(css.len());
        Decoded {
            text: Cow::Owned(text),
            origin: Some(origin),
        }
    }

    /// The original offset of decoded byte `i` (`i` may be the end).
    fn original(&self, i: usize) -> usize {
        match &self.origin {
            None => i.min(self.text.len()),
            Some(origin) => origin[i.min(origin.len() - 1)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(css: &str) -> Vec<(String, Form)> {
        urls(css).into_iter().map(|f| (f.url, f.form)).collect()
    }

    #[test]
    fn functions_in_any_case_and_strings_are_found() {
        let css = "a{background:URL( \"https://t.example/p.gif\" )} b{x:Url(/own.png)}";
        assert_eq!(
            values(css),
            [
                ("https://t.example/p.gif".to_owned(), Form::Function),
                ("/own.png".to_owned(), Form::Function),
            ]
        );
        let css = "@import 'https://t.example/s.css'; i{background-image:image-set(\"https://t.example/i.png\" 1x)}";
        assert_eq!(
            values(css),
            [
                ("https://t.example/s.css".to_owned(), Form::String),
                ("https://t.example/i.png".to_owned(), Form::String),
            ]
        );
    }

    #[test]
    fn escapes_are_decoded_and_ranges_stay_in_the_original() {
        let css = r"x{background:u\72 l(https://www.facebook\2e com/tr)}y";
        let found = urls(css);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].url, "https://www.facebook.com/tr");
        assert_eq!(
            &css[found[0].range.clone()],
            r"u\72 l(https://www.facebook\2e com/tr)"
        );
        let css = r#"z{background:\75\52\4C("https://t.example/\70.gif")}"#;
        assert_eq!(urls(css)[0].url, "https://t.example/p.gif");
        assert_eq!(&css[urls(css)[0].range.clone()], &css[13..css.len() - 1]);
    }

    #[test]
    fn text_without_a_paren_or_quote_is_skipped() {
        assert!(!may_have_urls("display:none;width:10px"));
        for css in ["background:url(x)", "a:'b'", r"u\72l", "&#40;"] {
            assert!(may_have_urls(css), "{css}");
        }
        assert!(urls("display:none").is_empty());
        assert!(urls("a:'unterminated").is_empty());
    }
}
