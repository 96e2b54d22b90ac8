//! HTML for the dashboard, written by hand: every string that a stranger can influence
//! (paths, referrers, UTM values, event names) goes through [`esc`] on its way into text
//! or an attribute, and through [`url_part`] on its way into a link. The chart is SVG
//! drawn here; no script, style or font comes from another host.

use std::fmt::Write as _;

/// Escapes text for HTML text and quoted attribute values (HTML Living Standard 13.1.4).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes one query value (RFC 3986 §2.1: everything but unreserved characters).
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The page around `body`. The style sheet is the dashboard's own, served from
/// `/dashboard/style.css`; `script-src 'none'`: the dashboard runs no script at all.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/dashboard/style.css\"></head>\
         <body>{body}</body></html>",
        esc(title)
    )
}

pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A line chart of `points` (label, value) as inline SVG, with a text alternative.
pub fn chart(title: &str, points: &[(String, f64)]) -> String {
    let (w, h, pad) = (640.0_f64, 180.0_f64, 24.0_f64);
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0);
    let n = points.len().max(2) as f64 - 1.0;
    let xy = |i: usize, v: f64| {
        (
            pad + (w - 2.0 * pad) * i as f64 / n,
            h - pad - (h - 2.0 * pad) * v / max,
        )
    };
    let mut line = String::new();
    for (i, (_, v)) in points.iter().enumerate() {
        let (x, y) = xy(i, *v);
        let _ = write!(line, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
    }
    let mut dots = String::new();
    for (i, (label, v)) in points.iter().enumerate() {
        let (x, y) = xy(i, *v);
        let _ = write!(
            dots,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\"><title>{}: {v}</title></circle>",
            esc(label)
        );
    }
    let first = points.first().map(|p| esc(&p.0)).unwrap_or_default();
    let last = points.last().map(|p| esc(&p.0)).unwrap_or_default();
    format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-title\" preserveAspectRatio=\"none\">\
         <title id=\"chart-title\">{t}: from {first} to {last}, highest {max}</title>\
         <line x1=\"{pad}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" class=\"axis\"/>\
         <path d=\"{line}\" class=\"line\"/>{dots}\
         <text x=\"{pad}\" y=\"14\" class=\"label\">{max}</text></svg>\
         <figcaption>{t}, {first} – {last}</figcaption></figure>",
        t = esc(title),
        base = h - pad,
        right = w - pad,
        max = max as i64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_strings_are_inert_in_text_attributes_and_links() {
        let evil = "\"><script>alert(1)</script>' onmouseover='x' &amp;";
        let e = esc(evil);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
        assert!(e.ends_with("&amp;amp;"), "{e}");
        let u = url_part(evil);
        assert!(
            u.chars()
                .all(|c| c.is_ascii_alphanumeric() || "%-._~".contains(c)),
            "{u}"
        );
        let svg = chart("Visitors", &[(evil.to_owned(), 3.0), ("b".into(), 1.0)]);
        assert!(!svg.contains("<script"));
    }
}
