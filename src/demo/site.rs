//! The demo marketing site itself: a few static pages embedded in the binary. Its HTML
//! responses set a Google Analytics `_ga` cookie and a session cookie, as real sites do.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

struct Page {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

static PAGES: &[Page] = &[
    Page {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/demo/index.html"),
    },
    Page {
        path: "/tarieven.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/demo/tarieven.html"),
    },
    Page {
        path: "/privacy.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/demo/privacy.html"),
    },
    Page {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/demo/style.css"),
    },
];

/// Binds the demo site and serves it in the background; returns its address.
pub async fn start(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(respond))
                    .await;
            });
        }
    });
    Ok(local)
}

async fn respond(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = match req.uri().path() {
        "/index.html" => "/",
        p => p,
    };
    let Some(page) = PAGES.iter().find(|p| p.path == path) else {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"Niet gevonden\n")));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return Ok(resp);
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(page.body)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(page.content_type),
    );
    if page.content_type.starts_with("text/html") {
        // What a site with Google Analytics and a PHP-style session typically sends.
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "_ga=GA1.1.1234567890.1764000000; Path=/; Max-Age=63072000; SameSite=Lax",
            ),
        );
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("demo_session=d3m0s3ss10n; Path=/; HttpOnly; SameSite=Lax"),
        );
    }
    Ok(resp)
}
