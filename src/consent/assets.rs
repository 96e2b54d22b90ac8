//! The proxy's own files under `/_cp/`, embedded in the binary: no CDN, no third-party
//! request of any kind.

use std::io::Write;
use std::sync::LazyLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::body::{ProxyBody, full};
use crate::coding::Coding;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

static ASSETS: &[Asset] = &[
    Asset {
        path: "/_cp/banner.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/banner/banner.js"),
    },
    Asset {
        path: "/_cp/beacon.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/banner/beacon.js"),
    },
    Asset {
        path: "/_cp/banner.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../assets/banner/banner.css"),
    },
    Asset {
        path: "/_cp/consent-mode.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/banner/consent-mode.js"),
    },
    Asset {
        path: "/_cp/placeholder.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../assets/banner/placeholder.css"),
    },
];

/// An asset as served: comments and indentation gone, compressed once at first use.
struct Served {
    path: &'static str,
    content_type: &'static str,
    body: Precompressed,
}

/// A body compressed once, served in the best coding a visitor accepts.
#[derive(Debug, Clone, Default)]
pub struct Precompressed {
    identity: Bytes,
    gzip: Bytes,
    br: Bytes,
}

impl Precompressed {
    pub fn new(body: Bytes) -> Precompressed {
        Precompressed {
            gzip: gzip(&body),
            br: brotli_of(&body),
            identity: body,
        }
    }

    /// The body for a request's `Accept-Encoding`, with its coding.
    pub fn negotiate(&self, headers: &HeaderMap) -> (Bytes, Coding) {
        match Coding::negotiate(headers.get(header::ACCEPT_ENCODING)) {
            Coding::Br => (self.br.clone(), Coding::Br),
            Coding::Gzip => (self.gzip.clone(), Coding::Gzip),
            _ => (self.identity.clone(), Coding::Identity),
        }
    }

    /// Sizes as served: identity, gzip, brotli (for the budget and the README's table).
    pub fn sizes(&self) -> [usize; 3] {
        [self.identity.len(), self.gzip.len(), self.br.len()]
    }

    pub fn gzip_len(&self) -> usize {
        self.gzip.len()
    }
}

/// Compresses the assets now rather than on the first visitor's request.
pub fn warm() {
    LazyLock::force(&SERVED);
}

static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| Served {
            path: a.path,
            content_type: a.content_type,
            body: Precompressed::new(Bytes::from(strip(a.body))),
        })
        .collect()
});

/// Answers a request for `/_cp/…`; `None` for paths that are not assets.
pub fn serve(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<ProxyBody>> {
    let asset = SERVED.iter().find(|a| a.path == path)?;
    if method != Method::GET && method != Method::HEAD {
        let mut resp = Response::new(crate::body::empty());
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(resp);
    }
    Some(respond(method, headers, &asset.body, asset.content_type))
}

/// A `200` with `body` in the visitor's best coding; short public caching (same URL, same
/// binary: upgrades become visible within minutes).
pub fn respond(
    method: &Method,
    headers: &HeaderMap,
    body: &Precompressed,
    content_type: &'static str,
) -> Response<ProxyBody> {
    let (bytes, coding) = body.negotiate(headers);
    let length = bytes.len();
    let mut resp = Response::new(if method == Method::HEAD {
        crate::body::empty()
    } else {
        full(bytes)
    });
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(value) = coding.header_value() {
        h.insert(header::CONTENT_ENCODING, value);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Drops `/* … */` comments (outside string literals) and line indentation from the
/// hand-written JS and CSS; line breaks stay, so JavaScript's automatic semicolon
/// insertion sees the same lines. The sources stay readable; visitors get fewer bytes.
fn strip(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    let mut quote: Option<char> = None;
    let mut line_start = true;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else if c == q || c == '\n' {
                quote = None;
            }
            continue;
        }
        if c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            let mut previous = ' ';
            for next in chars.by_ref() {
                if previous == '*' && next == '/' {
                    break;
                }
                previous = next;
            }
            continue;
        }
        if c == '\n' {
            while out.ends_with(' ') {
                out.pop();
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            line_start = true;
            continue;
        }
        if line_start && (c == ' ' || c == '\t') {
            continue;
        }
        line_start = false;
        if c == '"' || c == '\'' {
            quote = Some(c);
        }
        out.push(c);
    }
    out
}

fn gzip(bytes: &[u8]) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gz.write_all(bytes);
    gz.finish().map(Bytes::from).unwrap_or_default()
}

fn brotli_of(bytes: &[u8]) -> Bytes {
    // A window that holds the whole asset (brotli's is 2^lgwin - 16 bytes) compresses it as
    // well as the largest; at quality 11 the match finder is sized by the window, and a
    // 22-bit one took 32 MiB per asset, which the allocator kept for the life of the process.
    let lgwin = (bytes.len() + 16).next_power_of_two().ilog2().clamp(10, 24);
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, lgwin);
        let _ = w.write_all(bytes);
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::{SERVED, strip};
    use crate::config::{Config, Language};
    use crate::consent::ui::SiteUi;

    #[test]
    fn strip_keeps_strings_and_lines() {
        let js =
            "/* head */\n  var a = \"/* not a comment */\"; /* gone */\n\n  var b = 'it\\'s';\n";
        assert_eq!(
            strip(js),
            "var a = \"/* not a comment */\";\nvar b = 'it\\'s';\n"
        );
    }

    /// The budget: banner JS + CSS + one language's texts at most 8 KB gzipped,
    /// measured with the demo site's document (four services, eight cookies).
    #[test]
    fn banner_fits_its_budget() {
        let config = Config::parse("demo.toml", include_str!("../../config/demo.toml")).unwrap();
        let ui = SiteUi::new(&config.sites[0]);
        let asset = |path: &str| {
            SERVED
                .iter()
                .find(|a| a.path == path)
                .unwrap()
                .body
                .gzip_len()
        };
        let code = asset("/_cp/banner.js") + asset("/_cp/banner.css");
        for lang in Language::ALL {
            let (_, doc) = ui.document(Some(lang));
            let total = code + doc.gzip_len();
            assert!(total <= 8 * 1024, "{}: {total} bytes gzipped", lang.code());
        }
    }

    /// The collect issue's budget: the beacon at most 1.5 KB gzipped on top of the banner.
    #[test]
    fn beacon_fits_its_budget() {
        let gz = SERVED
            .iter()
            .find(|a| a.path == "/_cp/beacon.js")
            .unwrap()
            .body
            .gzip_len();
        assert!(gz <= 1536, "beacon.js is {gz} bytes gzipped");
    }

    /// `1234567` as `1,234,567`, the README's way of writing byte counts.
    fn thousands(n: usize) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    /// The README's banner size table is computed here from what is served, so it cannot
    /// drift: when the assets change, this test fails and prints the rows to paste.
    #[test]
    fn readme_size_table_is_what_is_served() {
        let config = Config::parse("demo.toml", include_str!("../../config/demo.toml")).unwrap();
        let site = &config.sites[0];
        let ui = SiteUi::new(site);
        let sizes = |path: &str| SERVED.iter().find(|a| a.path == path).unwrap().body.sizes();
        let [js, js_gz, js_br] = sizes("/_cp/banner.js");
        let [css, css_gz, css_br] = sizes("/_cp/banner.css");
        let [beacon, beacon_gz, beacon_br] = sizes("/_cp/beacon.js");
        let docs: Vec<[usize; 3]> = Language::ALL
            .iter()
            .map(|&l| ui.document(Some(l)).1.sizes())
            .collect();
        let range = |i: usize| {
            let min = docs.iter().map(|d| d[i]).min().unwrap();
            let max = docs.iter().map(|d| d[i]).max().unwrap();
            format!("{}–{} B", thousands(min), thousands(max))
        };
        let cookies: usize = site.services.iter().map(|s| s.cookies.len()).sum();
        let total = js_gz + css_gz + docs.iter().map(|d| d[1]).max().unwrap();
        let f = thousands;
        let table = format!(
            "| `/_cp/banner.js` (banner, preference centre, re-activation) | {} B | {} B | {} B |\n\
             | `/_cp/banner.css` | {} B | {} B | {} B |\n\
             | `/_cp/banner.json`, one language (demo site: {} services, {cookies} cookies) | {} | {} | {} |\n\
             | **JS + CSS + one language** | | **{} B** (≤ 8 KB budget) | |\n\
             | `/_cp/beacon.js` (statistics and GA events; only on sites that collect) | {} B | {} B (≤ 1.5 KB budget) | {} B |\n",
            f(js),
            f(js_gz),
            f(js_br),
            f(css),
            f(css_gz),
            f(css_br),
            site.services.len(),
            range(0),
            range(1),
            range(2),
            f(total),
            f(beacon),
            f(beacon_gz),
            f(beacon_br),
        );
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        assert!(
            readme.contains(&table),
            "README.md's banner size table is out of date; the served sizes are:\n\n{table}"
        );
    }
}
