//! Failing closed: what the rest of a page goes through when the HTML rewriter cannot go
//! on (past `html_rewrite_memory`, e.g. a megabyte-long `data:` URL early in the page).
//!
//! A consent proxy must not hand out live trackers because a page was hard to parse
//! (ePrivacy art. 5(3): nothing before consent). So instead of copying the rest, this
//! byte scanner disables everything in it that could load or run something, whatever its
//! category — the site's own images and scripts after that point too. The page stays
//! readable text; only a pathological page ever gets here, and a warning names it.
//!
//! - `<script`, `<style`, `<link`, `<meta` get a first attribute that disarms them
//!   (`type="text/plain"`, `media="not all"`, `rel="cp-blocked"`, `http-equiv="cp-blocked"`:
//!   in HTML the first of duplicate attributes wins, HTML §13.2.5.33);
//! - elements that fetch (`img`, `iframe`, `frame`, `embed`, `object`, `input`, `video`,
//!   `audio`, `source`, `track`, `image`, `picture`, `portal`, `applet`) are renamed to
//!   `cp-…`, which browsers treat as unknown and never fetch for;
//! - every CSS `url(` becomes `url_(` (style attributes and sheets fetch nothing).
//!
//! The proxy's own loader (`<script src="/_cp/`) is left alone.

/// Bytes kept back between chunks so a tag name or `url(` split across them is seen whole.
const CARRY: usize = 16;

/// Elements renamed so that they fetch nothing.
const RENAMED: [&[u8]; 14] = [
    b"img", b"iframe", b"frame", b"embed", b"object", b"input", b"video", b"audio", b"source",
    b"track", b"image", b"picture", b"portal", b"applet",
];

/// Elements disarmed by a first attribute.
const DISARMED: [(&[u8], &[u8]); 4] = [
    (b"script", b" type=\"text/plain\" data-cp-failsafe"),
    (b"style", b" media=\"not all\" data-cp-failsafe"),
    (b"link", b" rel=\"cp-blocked\" data-cp-failsafe"),
    (b"meta", b" http-equiv=\"cp-blocked\" data-cp-failsafe"),
];

#[derive(Debug, Default)]
pub struct Failsafe {
    carry: Vec<u8>,
}

impl Failsafe {
    /// Filters one chunk; a few bytes may be held back until the next (or [`Failsafe::end`]).
    pub fn filter(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let keep = data.len().saturating_sub(CARRY);
        let (out, done) = disarm(&data, keep);
        self.carry = data[done..].to_vec();
        out
    }

    /// The held-back bytes, filtered.
    pub fn end(&mut self) -> Vec<u8> {
        let data = std::mem::take(&mut self.carry);
        disarm(&data, data.len()).0
    }
}

/// Disarms matches that start before `upto` in `data`; returns the rewritten bytes and
/// how far into `data` they reach (at least `upto`: a match may run past it).
fn disarm(data: &[u8], upto: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(upto + 64);
    let mut i = 0;
    while i < upto {
        let b = data[i];
        if b == b'<' {
            let closing = data.get(i + 1) == Some(&b'/');
            let name_start = i + 1 + usize::from(closing);
            let name_len = data[name_start.min(data.len())..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
                .count();
            let name = &data[name_start..name_start + name_len];
            if !closing
                && let Some((_, attr)) = DISARMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
                && !data[name_start + name_len..].starts_with(b" src=\"/_cp/")
            {
                out.extend_from_slice(&data[i..name_start + name_len]);
                out.extend_from_slice(attr);
                i = name_start + name_len;
                continue;
            }
            if RENAMED.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                out.extend_from_slice(&data[i..name_start]);
                out.extend_from_slice(b"cp-");
                out.extend_from_slice(name);
                i = name_start + name_len;
                continue;
            }
        } else if (b == b'u' || b == b'U')
            && data
                .get(i..i + 4)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"url("))
        {
            out.extend_from_slice(&data[i..i + 3]);
            out.extend_from_slice(b"_(");
            i += 4;
            continue;
        }
        out.push(b);
        i += 1;
    }
    (out, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> String {
        let mut f = Failsafe::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(f.filter(c.as_bytes()));
        }
        out.extend(f.end());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn everything_that_loads_or_runs_is_disarmed() {
        let page = "<p>tekst</p><SCRIPT src=\"https://www.googletagmanager.com/gtag/js\"></SCRIPT>\
                    <img src=\"https://www.facebook.com/tr?id=1\"><iframe src=\"https://www.youtube.com/embed/x\"></iframe>\
                    <div style=\"background:URL(https://t.example/p.gif)\"></div>\
                    <link rel=\"preconnect\" href=\"https://connect.facebook.net\">\
                    <meta http-equiv=\"set-cookie\" content=\"_fbp=1\">";
        let out = run(&[page]);
        assert_eq!(
            out,
            "<p>tekst</p><SCRIPT type=\"text/plain\" data-cp-failsafe src=\"https://www.googletagmanager.com/gtag/js\"></SCRIPT>\
             <cp-img src=\"https://www.facebook.com/tr?id=1\"><cp-iframe src=\"https://www.youtube.com/embed/x\"></cp-iframe>\
             <div style=\"background:URL_(https://t.example/p.gif)\"></div>\
             <link rel=\"cp-blocked\" data-cp-failsafe rel=\"preconnect\" href=\"https://connect.facebook.net\">\
             <meta http-equiv=\"cp-blocked\" data-cp-failsafe http-equiv=\"set-cookie\" content=\"_fbp=1\">"
        );
    }

    #[test]
    fn split_at_every_offset_gives_the_same_result() {
        let page = "<p>a</p><script>x()</script><img src=x><i style=\"url(y)\">u</i><imgs>";
        let whole = run(&[page]);
        assert!(!whole.contains("<cp-imgs>") && whole.contains("<imgs>"));
        for at in 0..page.len() {
            assert_eq!(run(&[&page[..at], &page[at..]]), whole, "split at {at}");
        }
    }

    #[test]
    fn the_proxys_own_loader_is_kept() {
        let tag = "<script src=\"/_cp/banner.js\" defer data-cp-loader></script>";
        assert_eq!(run(&[tag]), tag);
    }
}
