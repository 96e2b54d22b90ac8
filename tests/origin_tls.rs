//! HTTPS origins: verified against the public roots or the site's CA, SNI from the URL or
//! `upstream_tls.server_name`, pooled, and a bad certificate is a 502 with a log line that
//! says why — never a page from an origin that could not prove who it is.

mod support;

use std::path::Path;

use http::Version;
use support::pki::Ca;
use support::{Binary, Proxy, SITE_A, SITE_B, Upstream};

const PAGE: &str = "<html><head><title>Tarieven</title>\
    <script src=\"https://www.googletagmanager.com/gtag/js?id=G-1\"></script></head>\
    <body>Over HTTPS</body></html>";

fn site(name: &str, host: &str, upstream: &str, extra: &str) -> String {
    format!(
        "\n[[site]]\nname = \"{name}\"\nhosts = [\"{host}\"]\nupstream = \"{upstream}\"\n\
         jurisdiction = \"nl\"\n{extra}\n"
    )
}

fn server_section() -> &'static str {
    "[server]\nlisten = [\"127.0.0.1:0\"]\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n"
}

async fn origin(acceptor: tokio_rustls::TlsAcceptor) -> Upstream {
    let origin = Upstream::start_tls(acceptor).await;
    origin.page("/", &[("content-type", "text/html; charset=utf-8")], PAGE);
    origin
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[tokio::test]
async fn a_verified_origin_serves_rewritten_pages_over_http1_with_the_visitors_host_or_http2() {
    let ca = Ca::new("Origin Test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = ca.write(dir.path(), "origin-ca.pem");
    // Site A keeps the visitor's Host (HTTP/1.1); site B names the origin itself (h2).
    let named = origin(ca.issue(&["origin.test"]).acceptor()).await;
    let local = origin(ca.issue(&["localhost"]).acceptor()).await;
    let config = format!(
        "{}{}{}",
        server_section(),
        site(
            "named",
            SITE_A,
            &format!("https://127.0.0.1:{}", named.addr.port()),
            &format!(
                "upstream_tls = {{ server_name = \"origin.test\", ca = \"{}\" }}",
                ca_file.display()
            ),
        ),
        site(
            "local",
            SITE_B,
            &format!("https://localhost:{}", local.addr.port()),
            &format!(
                "preserve_host = false\nupstream_tls = {{ ca = \"{}\" }}",
                ca_file.display()
            ),
        ),
    );
    let proxy = Proxy::start(&config).await;
    let client = proxy.client();

    for _ in 0..3 {
        let resp = client.get(proxy.url(SITE_A, "/")).send().await.expect("A");
        assert_eq!(resp.status(), 200);
        let html = resp.text().await.expect("body");
        assert!(html.contains("Over HTTPS"), "{html}");
        assert!(html.contains("/_cp/banner.js"), "banner injected: {html}");
        assert!(
            !html.contains(" src=\"https://www.googletagmanager.com"),
            "tracker neutralised: {html}"
        );
    }
    let seen = named.last();
    assert_eq!(seen.version, Version::HTTP_11);
    let host = seen.headers["host"].to_str().expect("host");
    assert_eq!(host.split(':').next(), Some(SITE_A), "the visitor's Host");
    // Pooled: three requests, one TLS connection to the origin.
    assert_eq!(named.count(), 3);
    assert_eq!(
        named.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    let resp = client.get(proxy.url(SITE_B, "/")).send().await.expect("B");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("body").contains("Over HTTPS"));
    let seen = local.last();
    assert_eq!(seen.version, Version::HTTP_2, "ALPN chose h2");
    assert_eq!(
        seen.uri.authority().map(|a| a.host()),
        Some("localhost"),
        "SNI and authority from the URL"
    );
}

#[tokio::test]
async fn an_origin_that_cannot_prove_its_name_is_a_502_with_the_reason_logged() {
    let ca = Ca::new("Origin Test CA");
    let stranger = Ca::new("Unknown CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = ca.write(dir.path(), "origin-ca.pem");
    let wrong_name = origin(ca.issue(&["elsewhere.test"]).acceptor()).await;
    let expired = origin(ca.issue_expired(&["origin.test"]).acceptor()).await;
    let unknown = origin(stranger.issue(&["localhost"]).acceptor()).await;
    let trusted = format!(
        "upstream_tls = {{ server_name = \"origin.test\", ca = \"{}\" }}",
        ca_file.display()
    );
    let config = format!(
        "{}{}{}{}",
        server_section(),
        site(
            "wrong-name",
            "wrong.test",
            &format!("https://127.0.0.1:{}", wrong_name.addr.port()),
            &trusted
        ),
        site(
            "expired",
            "expired.test",
            &format!("https://127.0.0.1:{}", expired.addr.port()),
            &trusted
        ),
        // No `ca`: the public web roots, which do not know this CA.
        site(
            "unknown-ca",
            "unknown.test",
            &format!("https://localhost:{}", unknown.addr.port()),
            ""
        ),
    );
    let path = write(dir.path(), "proxy.toml", &config);
    let proxy = Binary::serve(Path::new(&path));
    let addr = proxy.listening("listening for HTTP");
    let client = reqwest::Client::new();

    for (host, reason) in [
        ("wrong.test", "not valid for name"),
        ("expired.test", "expired"),
        ("unknown.test", "issuer"),
    ] {
        let resp = client
            .get(format!("http://{addr}/"))
            .header("host", host)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 502, "{host}");
        let body = resp.text().await.expect("body");
        assert!(!body.contains("Over HTTPS"), "{host}: origin page leaked");
        let site = host
            .trim_end_matches(".test")
            .replace("wrong", "wrong-name");
        let site = if site == "unknown" {
            "unknown-ca".to_owned()
        } else {
            site
        };
        let line = proxy.wait_for(&format!("site={site}"));
        let lower = line.to_ascii_lowercase();
        assert!(
            lower.contains("upstream failed") && lower.contains("invalid peer certificate"),
            "{line}"
        );
        assert!(lower.contains(reason), "{host}: {line}");
    }
    // The origins never completed a request.
    assert_eq!(wrong_name.count() + expired.count() + unknown.count(), 0);
}

#[test]
fn check_config_names_a_bad_origin_tls_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = write(dir.path(), "ca.pem", "not a certificate\n");
    let config = format!(
        "{}{}{}",
        server_section(),
        site(
            "bad-ca",
            SITE_A,
            "https://origin.example",
            &format!("upstream_tls = {{ ca = \"{not_pem}\" }}")
        ),
        site(
            "plain",
            SITE_B,
            "http://127.0.0.1:1",
            "upstream_tls = { server_name = \"origin.example\" }"
        ),
    );
    let path = write(dir.path(), "proxy.toml", &config);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_consent-proxy"))
        .args(["check-config", &path])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad-ca")
            && text.contains("upstream_tls.ca")
            && text.contains("holds no certificate"),
        "{text}"
    );
    assert!(
        text.contains("plain") && text.contains("upstream_tls") && text.contains("plain HTTP"),
        "{text}"
    );
}
