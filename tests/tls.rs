//! HTTPS: a certificate per site by SNI, HTTP/2 by ALPN, HSTS, the HTTPS redirect.

mod support;

use std::path::Path;

use support::{Proxy, SITE_A, SITE_B, Upstream};

struct TestCert {
    der: Vec<u8>,
    pem: String,
}

fn write_cert(dir: &Path, host: &str) -> TestCert {
    let rcgen::CertifiedKey {
        cert,
        signing_key: key_pair,
    } = rcgen::generate_simple_self_signed(vec![host.to_owned()]).expect("certificate");
    std::fs::write(dir.join(format!("{host}.pem")), cert.pem()).expect("write cert");
    std::fs::write(dir.join(format!("{host}.key")), key_pair.serialize_pem()).expect("write key");
    TestCert {
        der: cert.der().to_vec(),
        pem: cert.pem(),
    }
}

fn tls_config(upstream: std::net::SocketAddr, dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
data_dir = "data"
redirect_to_https = true

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}"]
upstream = "http://{upstream}"
jurisdiction = "nl"
tls = {{ cert = "{d}/{SITE_A}.pem", key = "{d}/{SITE_A}.key" }}
hsts = {{ max_age = "180d", include_subdomains = true }}

[[site]]
name = "regionummer"
hosts = ["{SITE_B}"]
upstream = "http://{upstream}"
jurisdiction = "nl"
tls = {{ cert = "{d}/{SITE_B}.pem", key = "{d}/{SITE_B}.key" }}
"#
    )
}

fn https_client(proxy: &Proxy, certs: &[&TestCert]) -> reqwest::Client {
    let tls = proxy.handle.tls_addrs[0];
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_info(true)
        .resolve(SITE_A, tls)
        .resolve(SITE_B, tls);
    for cert in certs {
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(cert.pem.as_bytes()).expect("pem"),
        );
    }
    builder.build().expect("client")
}

#[tokio::test]
async fn each_sni_name_gets_its_own_certificate_over_http2() {
    let upstream = Upstream::start().await;
    let certs = tempfile::tempdir().expect("tempdir");
    let a = write_cert(certs.path(), SITE_A);
    let b = write_cert(certs.path(), SITE_B);
    let proxy = Proxy::start(&tls_config(upstream.addr, certs.path())).await;
    let client = https_client(&proxy, &[&a, &b]);
    let port = proxy.handle.tls_addrs[0].port();

    for (host, cert) in [(SITE_A, &a), (SITE_B, &b)] {
        let resp = client
            .get(format!("https://{host}:{port}/"))
            .send()
            .await
            .expect("https request");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.version(),
            reqwest::Version::HTTP_2,
            "ALPN negotiates h2"
        );
        let info = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .expect("tls info");
        assert_eq!(info.peer_certificate(), Some(cert.der.as_slice()), "{host}");
        assert_eq!(resp.text().await.expect("body"), "hello from upstream");
        // The upstream still gets HTTP/1.1 with the visitor's host and the proto.
        let seen = upstream.last();
        assert_eq!(seen.version, http::Version::HTTP_11);
        assert_eq!(seen.headers["host"], format!("{host}:{port}").as_str());
        assert_eq!(seen.headers["x-forwarded-proto"], "https");
    }
}

#[tokio::test]
async fn hsts_on_https_and_redirect_from_http() {
    let upstream = Upstream::start().await;
    let certs = tempfile::tempdir().expect("tempdir");
    let a = write_cert(certs.path(), SITE_A);
    let b = write_cert(certs.path(), SITE_B);
    let proxy = Proxy::start(&tls_config(upstream.addr, certs.path())).await;
    let client = https_client(&proxy, &[&a, &b]);
    let port = proxy.handle.tls_addrs[0].port();
    let resp = client
        .get(format!("https://{SITE_A}:{port}/"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=15552000; includeSubDomains"
    );
    let resp = client
        .get(format!("https://{SITE_B}:{port}/"))
        .send()
        .await
        .expect("request");
    assert!(!resp.headers().contains_key("strict-transport-security"));

    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(SITE_A, proxy.http())
        .build()
        .expect("client");
    let resp = plain
        .get(format!(
            "http://{SITE_A}:{}/tarieven?x=1",
            proxy.http().port()
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        format!("https://{SITE_A}/tarieven?x=1").as_str()
    );
}

#[tokio::test]
async fn unknown_sni_name_gets_no_certificate() {
    let upstream = Upstream::start().await;
    let certs = tempfile::tempdir().expect("tempdir");
    let a = write_cert(certs.path(), SITE_A);
    let _b = write_cert(certs.path(), SITE_B);
    let proxy = Proxy::start(&tls_config(upstream.addr, certs.path())).await;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .resolve("unknown.test", proxy.handle.tls_addrs[0])
        .add_root_certificate(reqwest::Certificate::from_pem(a.pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let result = client
        .get(format!(
            "https://unknown.test:{}/",
            proxy.handle.tls_addrs[0].port()
        ))
        .send()
        .await;
    assert!(result.is_err(), "handshake for an unknown name must fail");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn a_connection_for_one_site_cannot_reach_another() {
    let upstream = Upstream::start().await;
    let certs = tempfile::tempdir().expect("tempdir");
    let a = write_cert(certs.path(), SITE_A);
    let b = write_cert(certs.path(), SITE_B);
    let proxy = Proxy::start(&tls_config(upstream.addr, certs.path())).await;
    let tls = proxy.handle.tls_addrs[0];
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .resolve(SITE_A, tls)
        .add_root_certificate(reqwest::Certificate::from_pem(a.pem.as_bytes()).expect("pem"))
        .add_root_certificate(reqwest::Certificate::from_pem(b.pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    // TLS (SNI) for site A, Host header for site B: misdirected (RFC 9110 §15.5.20).
    let resp = client
        .get(format!("https://{SITE_A}:{}/", tls.port()))
        .header("host", SITE_B)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 421);
    assert_eq!(upstream.count(), 0);
}
