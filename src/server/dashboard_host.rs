//! The dashboard on a public host (`[dashboard] host`): requests for that host go to the
//! dashboard's routes instead of the site, over HTTPS only (plain HTTP is redirected), with
//! the visitor's address for the login limits and `Secure` session cookies.

use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use tower::ServiceExt as _;

use crate::body::ProxyBody;
use crate::dashboard::session::{OverTls, Peer};
use crate::proxy::ConnInfo;

/// Whether `req` is for the dashboard host (the port, if any, ignored).
pub(super) fn is(req: &Request<Incoming>, host: &str) -> bool {
    let asked = req
        .uri()
        .host()
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name))
        })
        .unwrap_or("");
    asked.eq_ignore_ascii_case(host)
}

pub(super) async fn serve(
    router: axum::Router,
    mut req: Request<Incoming>,
    conn: &ConnInfo,
) -> Response<ProxyBody> {
    if !conn.tls {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let host = host
            .rsplit_once(':')
            .map_or(host.as_str(), |(name, _)| name);
        return Response::builder()
            .status(StatusCode::PERMANENT_REDIRECT)
            .header(header::LOCATION, format!("https://{host}{path}"))
            .body(crate::body::empty())
            .unwrap_or_else(|_| Response::new(crate::body::empty()));
    }
    req.extensions_mut().insert(Peer(conn.peer.ip()));
    req.extensions_mut().insert(OverTls);
    match router.oneshot(req.map(axum::body::Body::new)).await {
        Ok(resp) => resp.map(|body| {
            body.map_err(|e| -> crate::body::BoxError { Box::new(e) })
                .boxed_unsync()
        }),
        Err(never) => match never {},
    }
}
