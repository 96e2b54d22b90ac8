//! Attacks on the proxy's header and routing rules, and on cookie enforcement, from a raw
//! socket on loopback: each one answered as the RFCs say, none forwarded as it was sent.

mod support;

use std::time::Duration;

use support::{Proxy, SITE_A, Upstream, config_text, set_cookies, status_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a raw request and reads the answer's head (up to the blank line).
async fn raw_head(proxy: &Proxy, request: &str) -> String {
    let mut stream = TcpStream::connect(proxy.http()).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !out.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer");
    String::from_utf8_lossy(&out).into_owned()
}

async fn setup(server_extra: &str, site_extra: &str) -> (Upstream, Proxy) {
    let upstream = Upstream::start().await;
    upstream.page("/", &[("content-type", "text/plain")], "ok");
    let proxy = Proxy::start(&config_text(upstream.addr, server_extra, site_extra)).await;
    (upstream, proxy)
}

#[tokio::test]
async fn switching_protocols_response_goes_through_cookie_enforcement() {
    let (upstream, proxy) = setup("", "").await;
    upstream.page_with_status(
        "/socket",
        101,
        &[
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("set-cookie", "_ga=GA1.1.1; Path=/"),
            ("set-cookie", "_fbp=fb.1.1; Path=/"),
            ("set-cookie", "session=abc"),
        ],
        "",
    );
    let head = raw_head(
        &proxy,
        &format!(
            "GET /socket HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status_of(&head), 101, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(!lower.contains("set-cookie: _ga=ga1"), "{head}");
    assert!(!lower.contains("set-cookie: _fbp=fb"), "{head}");
    assert!(lower.contains("set-cookie: session=abc"), "{head}");
}

#[tokio::test]
async fn cookies_declared_necessary_pass_under_unknown_cookies_block() {
    let upstream = Upstream::start().await;
    upstream.page(
        "/",
        &[
            ("content-type", "text/plain"),
            ("set-cookie", "PHPSESSID=s1; Path=/; HttpOnly"),
            ("set-cookie", "mystery=1; Path=/"),
            ("set-cookie", "_ga=GA1.1.1; Path=/"),
        ],
        "ok",
    );
    let site = r#"unknown_cookies = "block"

[[site.services]]
name = "Login"
provider = "VoIP Express"
category = "necessary"
purpose = "Keeps you logged in"
cookies = [{ name = "PHPSESSID", lifetime = "session" }, { name = "_ga", lifetime = "session" }]
"#;
    let proxy = Proxy::start(&config_text(upstream.addr, "", site)).await;
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("cookie", "PHPSESSID=s1; mystery=1; _ga=GA1.1.old")
        .send()
        .await
        .expect("request");
    let cookies = set_cookies(&resp);
    assert!(
        cookies.iter().any(|c| c.starts_with("PHPSESSID=s1")),
        "declared necessary passes: {cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("mystery=1")),
        "unknown is blocked: {cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("_ga=GA1")),
        "a tracker's cookie is not made necessary by declaring it: {cookies:?}"
    );
    assert_eq!(upstream.last().headers["cookie"], "PHPSESSID=s1");
}

#[tokio::test]
async fn userinfo_in_an_absolute_target_is_refused() {
    let (upstream, proxy) = setup("", "").await;
    for target in [
        format!("http://evil.example,x@{SITE_A}/"),
        format!("http://user@{SITE_A}/"),
    ] {
        let head = raw_head(
            &proxy,
            &format!("GET {target} HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status_of(&head), 400, "{target}: {head}");
    }
    assert_eq!(upstream.count(), 0, "nothing forwarded");
}

#[tokio::test]
async fn invalid_host_authorities_are_refused() {
    let (upstream, proxy) = setup("", "").await;
    for host in [
        format!("{SITE_A}:abc"),
        format!("{SITE_A}:99999999"),
        format!("[{SITE_A}]"),
    ] {
        let head = raw_head(
            &proxy,
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status_of(&head), 400, "{host}: {head}");
    }
    assert_eq!(upstream.count(), 0, "nothing forwarded");
    let head = raw_head(
        &proxy,
        &format!("GET / HTTP/1.1\r\nHost: {SITE_A}:8080\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&head), 200, "a valid port is fine: {head}");
}

#[tokio::test]
async fn only_allowed_upgrades_reach_the_origin() {
    let (upstream, proxy) = setup("", "").await;
    let head = raw_head(
        &proxy,
        &format!(
            "GET / HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status_of(&head), 200, "answered as a plain request: {head}");
    let seen = upstream.last();
    assert!(seen.headers.get("upgrade").is_none(), "{:?}", seen.headers);
    assert!(seen.headers.get("http2-settings").is_none());
}

#[tokio::test]
async fn client_address_headers_pass_only_from_trusted_proxies() {
    const SPOOFED: [&str; 4] = [
        "x-real-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "x-client-ip",
    ];
    let send = |proxy: &Proxy| {
        let mut req = proxy.client().get(proxy.url(SITE_A, "/"));
        for name in SPOOFED {
            req = req.header(name, "203.0.113.66");
        }
        req.send()
    };
    let (upstream, proxy) = setup("", "").await;
    send(&proxy).await.expect("request");
    for name in SPOOFED {
        assert!(
            upstream.last().headers.get(name).is_none(),
            "{name} from an untrusted client"
        );
    }
    let (upstream, proxy) = setup("trusted_proxies = [\"127.0.0.1\"]", "").await;
    send(&proxy).await.expect("request");
    for name in SPOOFED {
        assert_eq!(
            upstream.last().headers[name],
            "203.0.113.66",
            "{name} from a trusted proxy"
        );
    }
}
