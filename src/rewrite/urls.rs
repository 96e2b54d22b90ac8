//! URLs in a page as the browser will resolve them, before they are matched against the
//! tracker table: an attribute value written to slip past a plain string match
//! (`googletagmanager&#46;com`, `https:\\host`, `connect%2Efacebook%2Enet`, `/./gtag/js`,
//! a tab inside the scheme, a `<base href>` on a tracker host) must still be recognised.
//!
//! HTML character references are decoded first (HTML §13.2.5.72; the attribute value the
//! browser sees), then the WHATWG URL Standard parser (the `url` crate, the same algorithm
//! browsers implement) resolves it against the page's base URL and normalises scheme,
//! host (lowercase, percent-decoded, IDNA) and path (dot segments).

use std::borrow::Cow;

use url::Url;

/// The absolute URL a browser would fetch for `raw` (an attribute value as written in the
/// page) on a page whose base URL is `base`; `None` when it fetches nothing over HTTP(S).
pub fn resolve<'a>(raw: &'a str, base: Option<&Url>) -> Option<Cow<'a, str>> {
    // Fast path: the common, plain absolute URL needs no parser (the tracker table splits
    // it itself); anything unusual takes the browser's way.
    if is_plain_absolute(raw) {
        return Some(Cow::Borrowed(raw));
    }
    let decoded = decode_references(raw);
    let url = match base {
        Some(base) => base.join(decoded.trim()).ok()?,
        None => Url::parse(decoded.trim()).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then(|| Cow::Owned(url.into()))
}

/// A relative URL that stays on the page's own origin (`/img/a.png`, `a.png`, `?x`), written
/// plainly: with the page's own base it can never lead to another host, so it needs no
/// parsing. Anything a browser might read as another host — `//host`, a backslash, a
/// scheme, a character reference, whitespace — does not count as plain.
pub fn is_plain_relative(raw: &str) -> bool {
    if raw
        .bytes()
        .any(|c| matches!(c, b'\t' | b'\n' | b'\r' | b' ' | b'&' | b'\\' | b'%'))
    {
        return false;
    }
    match raw.as_bytes().first() {
        Some(b'/') => raw.as_bytes().get(1) != Some(&b'/'),
        Some(b'?' | b'#' | b'.') => true,
        Some(c) if c.is_ascii_alphanumeric() => raw
            .find([':', '/', '?', '#'])
            .is_none_or(|i| raw.as_bytes()[i] != b':'),
        _ => false,
    }
}

/// `http(s)://` or `//` followed by a plain lowercase host and path: nothing a browser
/// would read differently from the table's own split.
fn is_plain_absolute(raw: &str) -> bool {
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .or_else(|| raw.strip_prefix("//"));
    rest.is_some_and(|rest| {
        rest.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'&' | b'%' | b'\\' | b'@'))
            && !rest.contains("/.")
    })
}

/// Decodes numeric character references and the named ones that can spell a URL's
/// punctuation; others stay as written (as the browser keeps them).
pub fn decode_references(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match decode_one(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// One reference at the start of `s` (which starts with `&`): the character and the
/// reference's length, `;` included when present.
fn decode_one(s: &str) -> Option<(char, usize)> {
    let body = &s[1..];
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 3),
            None => (num, 10, 2),
        };
        let len = digits
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        let value = u32::from_str_radix(&digits[..len.min(8)], radix).ok()?;
        let c = char::from_u32(value).unwrap_or('\u{fffd}');
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((c, skip + len + semicolon));
    }
    const NAMED: [(&str, char); 16] = [
        ("period;", '.'),
        ("sol;", '/'),
        ("colon;", ':'),
        ("commat;", '@'),
        ("quest;", '?'),
        ("num;", '#'),
        ("percnt;", '%'),
        ("lowbar;", '_'),
        ("equals;", '='),
        ("amp;", '&'),
        ("bsol;", '\\'),
        ("Tab;", '\t'),
        ("NewLine;", '\n'),
        ("hyphen;", '\u{2010}'),
        ("quot;", '"'),
        ("apos;", '\''),
    ];
    NAMED
        .iter()
        .find(|(name, _)| body.starts_with(name))
        .map(|(name, c)| (*c, 1 + name.len()))
}

/// The URLs of a `srcset` (`a.png 1x, b.png 2x`): each candidate's URL.
pub fn srcset_urls(srcset: &str) -> impl Iterator<Item = &str> {
    srcset
        .split(',')
        .filter_map(|candidate| candidate.split_whitespace().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://voipexpress.nl/tarieven/").expect("base")
    }

    #[test]
    fn evasions_resolve_to_the_tracker_host() {
        let base = page();
        for (raw, expected) in [
            (
                "https://www.googletagmanager&#46;com/gtag/js?id=G-1",
                "https://www.googletagmanager.com/gtag/js?id=G-1",
            ),
            (
                "https://www&period;googletagmanager&period;com/gtag/js",
                "https://www.googletagmanager.com/gtag/js",
            ),
            (
                "https:\\\\connect.facebook.net\\x.js",
                "https://connect.facebook.net/x.js",
            ),
            (
                "https://connect%2Efacebook%2Enet/x.js",
                "https://connect.facebook.net/x.js",
            ),
            (
                "https://www.googletagmanager.com/./gtag/../gtag/js",
                "https://www.googletagmanager.com/gtag/js",
            ),
            (
                "ht\ttps://connect.facebook.net/x.js",
                "https://connect.facebook.net/x.js",
            ),
            (
                "  //CONNECT.facebook.net/x.js",
                "https://connect.facebook.net/x.js",
            ),
            (
                "&#x68;ttps://connect.facebook.net/x.js",
                "https://connect.facebook.net/x.js",
            ),
        ] {
            assert_eq!(
                resolve(raw, Some(&base)).as_deref(),
                Some(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn relative_urls_resolve_against_the_base() {
        let tracker = Url::parse("https://connect.facebook.net/en_US/").expect("base");
        assert_eq!(
            resolve("fbevents.js", Some(&tracker)).as_deref(),
            Some("https://connect.facebook.net/en_US/fbevents.js")
        );
        assert_eq!(
            resolve("/js/app.js", Some(&page())).as_deref(),
            Some("https://voipexpress.nl/js/app.js")
        );
        assert_eq!(resolve("javascript:alert(1)", Some(&page())), None);
        assert_eq!(resolve("data:image/png;base64,AAAA", Some(&page())), None);
    }

    #[test]
    fn plain_relative_urls_stay_on_the_origin() {
        for own in [
            "/img/a.png",
            "a.png",
            "img/a.png?x=1",
            "?page=2",
            "#top",
            "./a.js",
            "../b.js",
        ] {
            assert!(is_plain_relative(own), "{own}");
        }
        for other in [
            "//connect.facebook.net/x.js",
            "/\\connect.facebook.net/x.js",
            "https://a.b/",
            "javascript:alert(1)",
            "&#47;/connect.facebook.net/x.js",
            " //connect.facebook.net/x.js",
            "\tjavascript:x",
            "",
        ] {
            assert!(!is_plain_relative(other), "{other}");
        }
    }

    #[test]
    fn plain_urls_take_the_fast_path() {
        assert!(matches!(
            resolve("https://www.googletagmanager.com/gtag/js?id=G-1", None),
            Some(Cow::Borrowed(_))
        ));
        assert!(!is_plain_absolute("https://a.b/./x"));
        assert!(!is_plain_absolute("https://a&#46;b/x"));
    }

    #[test]
    fn srcset_urls_are_found() {
        let set: Vec<&str> = srcset_urls("a.png 1x, https://t.example/p.gif 2x").collect();
        assert_eq!(set, ["a.png", "https://t.example/p.gif"]);
    }
}
