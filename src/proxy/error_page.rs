//! The proxy's own small, branded answers (421, 502, 504, …): self-contained HTML with no
//! external resource and nothing from the request echoed back.

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{ProxyBody, full};

/// A short page for `status`, with a title and one sentence for the visitor.
pub fn page(status: StatusCode) -> Response<ProxyBody> {
    let (title, text) = match status.as_u16() {
        400 => ("Bad request", "The request could not be understood."),
        405 => ("Method not allowed", "This method is not supported here."),
        421 => (
            "Unknown site",
            "This server does not serve the site you asked for.",
        ),
        431 => (
            "Request headers too large",
            "The request carried more header data than this server accepts.",
        ),
        502 => (
            "Site unavailable",
            "The site could not be reached. Please try again in a moment.",
        ),
        504 => (
            "Site too slow",
            "The site took too long to answer. Please try again in a moment.",
        ),
        _ => ("Error", "The request could not be completed."),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{code} {title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;\
         color:#1a1a2e;background:#f6f7fb;display:grid;place-items:center;min-height:90vh;\
         margin:0}}main{{max-width:32rem;padding:2rem;background:#fff;border-radius:12px;\
         box-shadow:0 2px 12px #0001}}h1{{font-size:1.4rem;margin:0 0 .5rem}}\
         small{{color:#555}}</style></head><body><main><h1>{title}</h1><p>{text}</p>\
         <small>{code} · consent-proxy</small></main></body></html>",
        code = status.as_u16(),
    );
    let mut resp = Response::new(full(html));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
    }
    resp
}
