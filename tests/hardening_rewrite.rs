//! A hostile or careless upstream against the real binary: decompression bombs, a huge
//! inline script, a page too hard to parse — memory stays bounded and no tracker goes out
//! live.

mod support;

use consent_proxy::coding::{Coding, Encoder};
use support::{Binary, SITE_A, Upstream};

fn compress(coding: Coding, plain_chunk: &[u8], times: usize) -> Vec<u8> {
    // A bomb is compressed as hard as gzip allows (the proxy's own encoder runs at
    // nginx's level 1).
    if coding == Coding::Gzip {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..times {
            gz.write_all(plain_chunk).expect("write");
        }
        return gz.finish().expect("finish");
    }
    let mut enc = Encoder::new(coding).expect("encoder");
    let mut out = Vec::new();
    for _ in 0..times {
        out.extend_from_slice(&enc.encode(plain_chunk.to_vec()).expect("encode"));
    }
    out.extend_from_slice(&enc.finish().expect("finish"));
    out
}

fn start(upstream: &Upstream, dir: &std::path::Path) -> (Binary, std::net::SocketAddr) {
    let path = dir.join("proxy.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ndata_dir = \"data\"\n\n\
             [[site]]\nname = \"a\"\nhosts = [\"{SITE_A}\"]\nupstream = \"http://{}\"\njurisdiction = \"nl\"\n",
            upstream.addr
        ),
    )
    .expect("config");
    let proxy = Binary::serve(&path);
    let addr = proxy.listening("listening for HTTP");
    (proxy, addr)
}

/// What the proxy may grow by while it handles the hostile pages: a fraction of what they
/// would take held in memory (256 MiB bombs, a 50 MB script).
const GROWTH_KIB: u64 = 40 * 1024;

/// The proxy's peak RSS once it has served one ordinary page (code paths warmed; the
/// debug binary's own pages are most of it), in KiB.
async fn baseline(proxy: &Binary, client: &reqwest::Client, addr: std::net::SocketAddr) -> u64 {
    let resp = client
        .get(format!("http://{SITE_A}:{}/warm-up", addr.port()))
        .send()
        .await
        .expect("warm-up");
    let _ = resp.bytes().await;
    proxy.peak_rss_kib()
}

/// Reads a page to its end (or until the proxy cuts it); the bytes received.
async fn read_all(client: &reqwest::Client, url: String) -> usize {
    let mut resp = client
        .get(url)
        .header("accept-encoding", "identity")
        .send()
        .await
        .expect("response head");
    let mut total = 0;
    while let Ok(Some(chunk)) = resp.chunk().await {
        total += chunk.len();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_bombs_are_cut_off_in_bounded_memory() {
    let upstream = Upstream::start().await;
    let mib = vec![b'A'; 1024 * 1024];
    // Each inflates to 256 MiB from a few hundred KB or less.
    for (path, coding, name) in [
        ("/zstd", Coding::Zstd, "zstd"),
        ("/br", Coding::Br, "br"),
        ("/gzip", Coding::Gzip, "gzip"),
    ] {
        let mut body = b"<html><head></head><body>".to_vec();
        body.extend_from_slice(&mib);
        let bomb = compress(coding, &mib, 256);
        assert!(bomb.len() < 1024 * 1024, "{name}: {}", bomb.len());
        upstream.page(
            path,
            &[("content-type", "text/html"), ("content-encoding", name)],
            bomb,
        );
    }
    let dir = tempfile::tempdir().expect("dir");
    let (proxy, addr) = start(&upstream, dir.path());
    let client = reqwest::Client::builder()
        .resolve(SITE_A, addr)
        .build()
        .expect("client");
    let url = |path: &str| format!("http://{SITE_A}:{}{path}", addr.port());
    let base = baseline(&proxy, &client, addr).await;
    // Two at once, then the third.
    let (zstd, br) = tokio::join!(
        read_all(&client, url("/zstd")),
        read_all(&client, url("/br"))
    );
    let gzip = read_all(&client, url("/gzip")).await;
    for (name, got) in [("zstd", zstd), ("br", br), ("gzip", gzip)] {
        assert!(
            got < 128 * 1024 * 1024,
            "{name}: {got} bytes went out before the bomb was stopped"
        );
    }
    proxy.wait_for("decompression bomb");
    let peak = proxy.peak_rss_kib();
    assert!(
        peak - base < GROWTH_KIB,
        "peak RSS {peak} KiB, {base} KiB before the bombs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_megabyte_inline_script_streams_in_bounded_memory() {
    let upstream = Upstream::start().await;
    let mut page = b"<html><head></head><body><script>var x = 1;\n".to_vec();
    let line = b"console.log('een regel van een heel groot script');\n";
    while page.len() < 50 * 1024 * 1024 {
        page.extend_from_slice(line);
    }
    page.extend_from_slice(b"</script><p>einde</p></body></html>");
    let expected = page.len();
    upstream.page("/big", &[("content-type", "text/html")], page);
    let dir = tempfile::tempdir().expect("dir");
    let (proxy, addr) = start(&upstream, dir.path());
    let client = reqwest::Client::builder()
        .resolve(SITE_A, addr)
        .build()
        .expect("client");
    let base = baseline(&proxy, &client, addr).await;
    let got = read_all(&client, format!("http://{SITE_A}:{}/big", addr.port())).await;
    assert!(
        got >= expected,
        "the whole page arrived: {got} of {expected}"
    );
    let peak = proxy.peak_rss_kib();
    assert!(
        peak - base < GROWTH_KIB,
        "peak RSS {peak} KiB, {base} KiB before the page"
    );
}

#[tokio::test]
async fn a_page_too_hard_to_parse_fails_closed() {
    let upstream = Upstream::start().await;
    let image = "A".repeat(1100 * 1024);
    upstream.page(
        "/hard",
        &[("content-type", "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html><head><title>t</title></head><body>\
             <img src=\"data:image/png;base64,{image}\" alt=\"\">\
             <script async src=\"https://www.googletagmanager.com/gtag/js?id=G-1\"></script>\
             <img src=\"https://www.facebook.com/tr?id=1&ev=PageView\" alt=\"\">\
             <iframe src=\"https://www.youtube.com/embed/x\"></iframe><p>einde</p></body></html>"
        ),
    );
    let proxy = support::Proxy::start(&support::config_text(upstream.addr, "", "")).await;
    let html = proxy
        .client()
        .get(proxy.url(SITE_A, "/hard"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    let tail = &html[html.len().saturating_sub(2000)..];
    assert!(tail.contains("<p>einde</p>"), "{tail}");
    assert!(!tail.contains("<script async src="), "{tail}");
    assert!(
        !tail.contains("<img src=\"https://www.facebook.com"),
        "{tail}"
    );
    assert!(!tail.contains("<iframe src="), "{tail}");
    assert!(
        proxy
            .metrics()
            .await
            .contains("consent_proxy_failsafe_pages_total{site=\"voipexpress\"} 1")
    );
}
