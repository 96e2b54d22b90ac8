//! Bodies stream in both directions without buffering; upgrades pass through.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::{Binary, SITE_A, Upstream, config_text};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const MIB: usize = 1024 * 1024;

/// Runs the real binary so its peak memory can be read from /proc: moving 20 MB each
/// way must not grow it by anything near 20 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_stream_through_with_bounded_memory() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("proxy.toml");
    std::fs::write(&config, config_text(upstream.addr, "", "")).expect("write");
    let proxy = Binary::serve(&config);
    let addr = proxy.listening("listening for HTTP");
    let client = reqwest::Client::builder()
        .resolve(SITE_A, addr)
        .build()
        .expect("client");
    let url = |path: &str| format!("http://{SITE_A}:{}{path}", addr.port());

    // Warm up: first connection, pool, allocator arenas.
    let warm = client
        .get(url("/bytes?n=1048576"))
        .send()
        .await
        .expect("warm-up");
    assert_eq!(warm.bytes().await.expect("body").len(), MIB);
    let before = proxy.peak_rss_kib();

    let mut resp = client
        .get(url(&format!("/bytes?n={}", 20 * MIB)))
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), 200);
    let mut received = 0usize;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        assert!(chunk.iter().all(|&b| b == b'x'));
        received += chunk.len();
    }
    assert_eq!(received, 20 * MIB);

    let upload = client
        .post(url("/sink"))
        .body(vec![1u8; 20 * MIB])
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.text().await.expect("count"), (20 * MIB).to_string());

    let growth_kib = proxy.peak_rss_kib().saturating_sub(before);
    eprintln!("peak RSS before {before} KiB, growth {growth_kib} KiB");
    // 20 MB held anywhere would show; the few MiB allowed are the background tasks'
    // (counters, rollups, pools) and the allocator's arenas.
    assert!(
        growth_kib < 12 * 1024,
        "peak RSS grew by {growth_kib} KiB while streaming 20 MB each way"
    );
}

#[tokio::test]
async fn websocket_echo_through_the_proxy() {
    let upstream = Upstream::start().await;
    let proxy = support::Proxy::start(&config_text(upstream.addr, "", "")).await;
    let stream = tokio::net::TcpStream::connect(proxy.http())
        .await
        .expect("connect");
    let request = format!("ws://{SITE_A}/ws")
        .into_client_request()
        .expect("request");
    let (mut ws, resp) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("websocket handshake through the proxy");
    assert_eq!(resp.status(), 101);
    for text in ["hallo", "bonjour", "hallo nog eens"] {
        ws.send(Message::text(text)).await.expect("send");
        let echo = ws.next().await.expect("echo").expect("message");
        assert_eq!(echo.into_text().expect("text").as_str(), text);
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send");
    let echo = ws.next().await.expect("echo").expect("message");
    assert_eq!(echo.into_data().as_ref(), &[0u8, 1, 2, 255]);
    let seen = upstream.last();
    assert_eq!(seen.headers["upgrade"], "websocket");
    assert!(seen.headers.contains_key("sec-websocket-key"));
}
