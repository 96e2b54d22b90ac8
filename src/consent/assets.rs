//! The proxy's own files under `/_cp/`, embedded in the binary: no CDN, no third-party
//! request of any kind.

use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::proxy::body::{ProxyBody, full};

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

/// Answers a request for `/_cp/…`; `None` for paths that are not assets.
pub fn serve(method: &Method, path: &str) -> Option<Response<ProxyBody>> {
    let asset = ASSETS.iter().find(|a| a.path == path)?;
    if method != Method::GET && method != Method::HEAD {
        let mut resp = Response::new(crate::proxy::body::empty());
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(resp);
    }
    let body = if method == Method::HEAD {
        ""
    } else {
        asset.body
    };
    let mut resp = Response::new(full(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Same URL, same binary: short caching keeps upgrades visible within minutes.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(resp)
}
