//! What the request filter answers by itself: an error page, or a redirect to HTTPS.

use http::header::{self, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{Response, StatusCode};

use super::error_page;
use crate::body::{self, ProxyBody};

/// Why the request filter answered by itself.
pub(super) enum Refusal {
    Page(StatusCode),
    /// The `Location` for a permanent redirect to HTTPS.
    RedirectToHttps(String),
    /// The token of an ACME `http-01` challenge (RFC 8555 §8.3), answered by the caller.
    AcmeChallenge(String),
}

impl Refusal {
    pub(super) fn into_response(self) -> Response<ProxyBody> {
        match self {
            Refusal::Page(status) => error_page::page(status),
            Refusal::RedirectToHttps(location) => {
                // 308 keeps the method and body (RFC 9110 §15.4.9), unlike 301.
                let mut resp = Response::new(body::empty());
                *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
                if let Ok(location) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, location);
                }
                resp
            }
            Refusal::AcmeChallenge(_) => error_page::page(StatusCode::NOT_FOUND),
        }
    }
}

/// The key authorization of an `http-01` challenge, as the CA expects it.
pub(super) fn acme_answer(key_authorization: String) -> Response<ProxyBody> {
    let mut resp = Response::new(body::full(key_authorization));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp
}

pub(super) fn https_location(host: &str, uri: &Uri) -> String {
    let path = uri
        .path_and_query()
        .map(PathAndQuery::as_str)
        .unwrap_or("/");
    format!("https://{host}{path}")
}
