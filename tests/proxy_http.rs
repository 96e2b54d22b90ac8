//! Proxying by RFC 9110/9112 over real sockets: routing, header rules, errors, limits.

mod support;

use std::time::{Duration, Instant};

use support::{Proxy, SITE_A, SITE_B, Upstream, config_text, raw, status_of};

#[tokio::test]
async fn routes_by_host_to_the_site_upstream() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/pricing?x=1"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "hello from upstream");
    let seen = upstream.last();
    assert_eq!(
        seen.uri.path_and_query().expect("pq").as_str(),
        "/pricing?x=1"
    );
    // The visitor's Host is preserved by default.
    assert_eq!(
        seen.headers["host"],
        format!("{SITE_A}:{}", proxy.http().port()).as_str()
    );
}

#[tokio::test]
async fn host_matching_ignores_case_and_port() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let answer = raw(
        proxy.http(),
        b"GET / HTTP/1.1\r\nHost: WWW.VoipExpress.TEST:9999\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
}

#[tokio::test]
async fn unknown_host_gets_421_and_is_never_forwarded() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let resp = proxy
        .client()
        .get(proxy.url("unknown.test", "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 421);
    assert!(resp.text().await.expect("body").contains("Unknown site"));
    // HTTP/1.0 without any Host: no site, also 421.
    let answer = raw(proxy.http(), b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_of(&answer), 421, "{answer}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn http11_without_host_is_a_bad_request() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
    let answer = raw(proxy.http(), b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn absolute_form_cannot_send_the_request_elsewhere() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let evil = raw(
        proxy.http(),
        format!(
            "GET http://evil.example/steal HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&evil), 421, "{evil}");
    assert_eq!(upstream.count(), 0);

    let ok = raw(
        proxy.http(),
        format!("GET http://{SITE_B}/page HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&ok), 200, "{ok}");
    let seen = upstream.last();
    // The upstream gets origin-form, for the site named by the target.
    assert_eq!(seen.uri.to_string(), "/page");
    assert_eq!(seen.headers["host"], SITE_B);
}

#[tokio::test]
async fn connect_is_refused() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let answer = raw(
        proxy.http(),
        format!("CONNECT {SITE_A}:443 HTTP/1.1\r\nHost: {SITE_A}:443\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 405, "{answer}");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn hop_by_hop_headers_removed_in_both_directions() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let answer = raw(
        proxy.http(),
        format!(
            "GET / HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: close, X-Client-Private\r\n\
             X-Client-Private: secret\r\nKeep-Alive: timeout=9\r\nTE: trailers\r\n\
             Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n\
             X-Client-Public: visible\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let seen = upstream.last();
    for name in [
        "x-client-private",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
    ] {
        assert!(
            !seen.headers.contains_key(name),
            "{name} reached the upstream"
        );
    }
    assert_eq!(seen.headers["x-client-public"], "visible");
    assert!(seen.headers.get("connection").is_none_or(|v| {
        !v.to_str()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("x-client")
    }),);

    let lower = answer.to_ascii_lowercase();
    assert!(!lower.contains("x-upstream-private"), "{answer}");
    assert!(!lower.contains("keep-alive: timeout=5"), "{answer}");
    assert!(lower.contains("x-upstream-public: 1"), "{answer}");
    assert!(lower.contains("via: 1.1 consent-proxy"), "{answer}");
}

#[tokio::test]
async fn forwarding_headers_from_untrusted_peer_are_replaced() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("forwarded", "for=6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .expect("request");
    let seen = upstream.last();
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    let host = format!("{SITE_A}:{}", proxy.http().port());
    assert_eq!(seen.headers["x-forwarded-host"], host.as_str());
    assert_eq!(
        seen.headers["forwarded"],
        format!("for=127.0.0.1;proto=http;host=\"{host}\"").as_str()
    );
    assert!(
        seen.headers["via"]
            .to_str()
            .expect("via")
            .ends_with("1.1 consent-proxy")
    );
}

#[tokio::test]
async fn forwarding_headers_from_trusted_peer_are_appended_and_believed() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(
        upstream.addr,
        r#"trusted_proxies = ["127.0.0.0/8"]"#,
        "",
    ))
    .await;
    proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("x-forwarded-for", "203.0.113.77")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("request");
    let seen = upstream.last();
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.77, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert!(
        seen.headers["forwarded"]
            .to_str()
            .expect("forwarded")
            .starts_with("for=127.0.0.1;proto=https")
    );
}

#[tokio::test]
async fn request_id_is_sent_upstream_and_back() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("x-request-id", "forged-by-visitor")
        .send()
        .await
        .expect("request");
    let id = resp.headers()["x-request-id"].clone();
    assert_ne!(id, "forged-by-visitor");
    assert_eq!(upstream.last().headers["x-request-id"], id);
}

#[tokio::test]
async fn upstream_down_gives_502_quickly_and_proxy_keeps_serving() {
    let closed = support::ports::reserved_addr();
    let upstream = Upstream::start().await;
    // Site A points at a closed port, site B at a live upstream.
    let text = config_text(upstream.addr, "", "").replacen(
        &format!("http://{}", upstream.addr),
        &format!("http://{closed}"),
        1,
    );
    let proxy = Proxy::start(&text).await;
    let started = Instant::now();
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 502);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("Site unavailable")
    );
    let ok = proxy
        .client()
        .get(proxy.url(SITE_B, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn slow_upstream_gives_504() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(
        upstream.addr,
        "[server.timeouts]\nupstream_response = \"300ms\"",
        "",
    ))
    .await;
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/hang"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 504);
    assert!(resp.text().await.expect("body").contains("too long"));
}

#[tokio::test]
async fn oversized_request_headers_get_431() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let big = "a".repeat(40 * 1024);
    let answer = raw(
        proxy.http(),
        format!("GET / HTTP/1.1\r\nHost: {SITE_A}\r\nX-Big: {big}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(
        status_of(&answer),
        431,
        "{}",
        &answer[..answer.len().min(200)]
    );

    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw(
        proxy.http(),
        format!("GET / HTTP/1.1\r\nHost: {SITE_A}\r\n{many}Connection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(
        status_of(&answer),
        431,
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn slowloris_connection_is_closed_after_header_timeout() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(
        upstream.addr,
        "[server.timeouts]\nheader_read = \"300ms\"",
        "",
    ))
    .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(proxy.http())
        .await
        .expect("connect");
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {SITE_A}\r\nX-Slow: ").as_bytes())
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = Vec::new();
    // The proxy closes the connection; the read ends without the test sleeping.
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn request_body_streams_to_upstream() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let body = vec![7u8; 3 * 1024 * 1024 + 17];
    let resp = proxy
        .client()
        .post(proxy.url(SITE_A, "/sink"))
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.text().await.expect("body"),
        (3 * 1024 * 1024 + 17).to_string()
    );
}

#[tokio::test]
async fn healthz_and_metrics_on_admin_listener() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let client = proxy.client();
    client
        .get(proxy.url(SITE_A, "/"))
        .send()
        .await
        .expect("request");
    client
        .get(proxy.url("unknown.test", "/"))
        .send()
        .await
        .expect("request");
    let admin = proxy.handle.admin_addr.expect("admin");
    let health = reqwest::get(format!("http://{admin}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("consent_proxy_requests_total{site=\"voipexpress\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("consent_proxy_requests_total{site=\"-\",status=\"421\"} 1"));
    assert!(metrics.contains("consent_proxy_upstream_latency_seconds_bucket"));
    assert!(metrics.contains("consent_proxy_open_connections"));
    // The admin listener does not serve the public sites: its root is the dashboard's login.
    let before = upstream.count();
    let resp = reqwest::get(format!("http://{admin}/"))
        .await
        .expect("admin root");
    assert_eq!(resp.url().path(), "/dashboard/login");
    assert_eq!(upstream.count(), before, "nothing proxied");
}

#[tokio::test]
async fn upstream_connect_timeout_gives_504() {
    // An upstream whose accept queue is full: Linux drops further SYNs, so a connect
    // hangs as it would towards a dead host, all on loopback.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .expect("addr")
                .into(),
        )
        .expect("bind");
    socket.listen(0).expect("listen");
    let full: std::net::SocketAddr = socket
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(full),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let upstream = Upstream::start().await;
    let text = config_text(
        upstream.addr,
        "[server.timeouts]\nupstream_connect = \"300ms\"",
        "",
    )
    .replacen(
        &format!("http://{}", upstream.addr),
        &format!("http://{full}"),
        1,
    );
    let proxy = Proxy::start(&text).await;
    let started = Instant::now();
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(fillers);
}

/// The upstream's connections accepted so far.
fn accepted(upstream: &Upstream) -> usize {
    upstream
        .connections
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// `path` on site A through `client`, the one visitor connection a test keeps.
async fn get(client: &reqwest::Client, proxy: &Proxy, path: &str) -> reqwest::Response {
    client
        .get(proxy.url(SITE_A, path))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let upstream = Upstream::start().await;
    // Bodies a proxy never reads to an end of its own: HEAD, 304, an empty 200 (the
    // connection must come back all the same), and a chunked body of several frames.
    upstream.page("/empty", &[], "");
    upstream.page_with_status("/unchanged", 304, &[], "");
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    // One visitor connection: one worker, whose pool the requests share.
    let client = proxy.client();
    for (method, path, status) in [
        ("GET", "/", 200),
        ("HEAD", "/", 200),
        ("GET", "/empty", 200),
        ("GET", "/unchanged", 304),
        ("GET", "/bytes?n=300000", 200),
        ("GET", "/", 200),
    ] {
        let resp = client
            .request(method.parse().expect("method"), proxy.url(SITE_A, path))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), status, "{method} {path}");
        let body = resp.bytes().await.expect("body");
        if path.starts_with("/bytes") {
            assert_eq!(body.len(), 300_000);
        }
    }
    assert_eq!(upstream.count(), 6);
    assert_eq!(accepted(&upstream), 1, "one kept-alive upstream connection");
}

#[tokio::test]
async fn a_connection_the_upstream_closes_is_not_reused() {
    let upstream = Upstream::start().await;
    upstream.page("/closing", &[("connection", "close")], "last one");
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let client = proxy.client();
    for _ in 0..3 {
        let resp = get(&client, &proxy, "/closing").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.expect("body"), "last one");
    }
    assert_eq!(accepted(&upstream), 3);
}

/// An upstream that ends a kept connection silently after one answer (its keep-alive
/// timeout, a restart): the next request, not yet written, goes out on a new connection
/// instead of failing as 502.
#[tokio::test]
async fn a_kept_connection_closed_by_the_upstream_is_replaced_unseen() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
            // Closed without a `Connection: close`: the proxy believes it kept-alive.
            drop(stream);
            let _ = closed_tx.send(());
        }
    });
    let proxy = Proxy::start(&config_text(addr, "", "")).await;
    let client = proxy.client();
    for round in 0..3 {
        let resp = get(&client, &proxy, "/").await;
        assert_eq!(resp.status(), 200, "round {round}");
        assert_eq!(resp.text().await.expect("body"), "ok");
        closed.recv().await.expect("the upstream closed its side");
    }
}
