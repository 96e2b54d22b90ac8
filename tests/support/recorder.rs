//! The "rest of the internet" for browser tests: Chromium's `--host-resolver-rules` send
//! every host that is not a test site here, so a test sees every attempt to reach a
//! tracker — even one that never got past the TLS handshake.
//!
//! It answers like the trackers do where it matters: GA's and Meta's scripts write their
//! first-party cookies (`_ga`, `_fbp`) from JavaScript, and each script notes that it ran.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Clone)]
pub struct Recorder {
    pub port: u16,
    /// `host path` of every request; `host (tls)` of every TLS handshake.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cert = rcgen::generate_simple_self_signed(vec!["tracker.test".into()]).expect("cert");
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
            )
            .expect("tls config");
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let recorder = Recorder {
            port,
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let r = recorder.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, acceptor) = (r.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let mut first = [0u8; 1];
                    if stream.peek(&mut first).await.is_err() {
                        return;
                    }
                    let service = {
                        let r = r.clone();
                        service_fn(move |req| {
                            let r = r.clone();
                            async move { Ok::<_, std::convert::Infallible>(r.answer(&req)) }
                        })
                    };
                    let http = hyper::server::conn::http1::Builder::new();
                    // 0x16: a TLS handshake record.
                    if first[0] == 0x16 {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let sni = tls.get_ref().1.server_name().unwrap_or("?").to_owned();
                        r.note(format!("{sni} (tls)"));
                        let _ = http.serve_connection(TokioIo::new(tls), service).await;
                    } else {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                });
            }
        });
        recorder
    }

    fn note(&self, entry: String) {
        self.seen.lock().expect("lock").push(entry);
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }

    /// Whether any request or handshake named `host`.
    pub fn reached(&self, host: &str) -> bool {
        self.seen().iter().any(|e| e.starts_with(host))
    }

    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("?")
            .to_owned();
        let path = req.uri().path().to_owned();
        self.note(format!("{host} {path}"));
        let (content_type, body) = if path.contains("/gtag/js") {
            (
                "text/javascript",
                "document.cookie = '_ga=GA1.1.42.42; path=/; max-age=63072000';\
                 (window.cpRan = window.cpRan || []).push('gtag');",
            )
        } else if path.contains("/gtm.js") {
            (
                "text/javascript",
                "(window.cpRan = window.cpRan || []).push('gtm');",
            )
        } else if path.contains("fbevents.js") {
            (
                "text/javascript",
                "document.cookie = '_fbp=fb.1.42; path=/; max-age=7776000';\
                 (window.cpRan = window.cpRan || []).push('meta');",
            )
        } else {
            ("text/html", "<p>third-party content</p>")
        };
        let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        resp
    }
}
