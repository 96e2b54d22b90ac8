//! The real binary: refusing bad configuration, reload on SIGHUP, graceful shutdown.

mod support;

use support::{Binary, SITE_A, SITE_B, Upstream, config_text};

fn client(addr: std::net::SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(SITE_A, addr)
        .resolve(SITE_B, addr)
        .resolve("newsite.test", addr)
        .build()
        .expect("client")
}

async fn status(client: &reqwest::Client, host: &str, port: u16) -> u16 {
    client
        .get(format!("http://{host}:{port}/"))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_broken_config_keeps_serving_and_good_config_applies() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.toml");
    let good = config_text(upstream.addr, "", "");
    std::fs::write(&path, &good).expect("write");
    let proxy = Binary::serve(&path);
    let addr = proxy.listening("listening for HTTP");
    let client = client(addr);
    assert_eq!(status(&client, SITE_A, addr.port()).await, 200);

    std::fs::write(
        &path,
        good.replace("upstream = \"http://", "upstream = \"htp://"),
    )
    .expect("write broken");
    proxy.signal("HUP");
    let line = proxy.wait_for("configuration reload rejected");
    assert!(line.contains("reload rejected"));
    let detail = proxy.wait_for("upstream");
    assert!(detail.contains("site `voipexpress`"), "{detail}");
    assert_eq!(
        status(&client, SITE_A, addr.port()).await,
        200,
        "old config still serves"
    );

    let with_new_site = format!(
        "{good}\n[[site]]\nname = \"newsite\"\nhosts = [\"newsite.test\"]\n\
         upstream = \"http://{}\"\njurisdiction = \"be\"\n",
        upstream.addr
    );
    assert_eq!(status(&client, "newsite.test", addr.port()).await, 421);
    std::fs::write(&path, with_new_site).expect("write new");
    proxy.signal("HUP");
    proxy.wait_for("configuration reloaded");
    assert_eq!(status(&client, "newsite.test", addr.port()).await, 200);
    assert_eq!(status(&client, SITE_A, addr.port()).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_response_finish() {
    let upstream = Upstream::start().await;
    let mut arrived = upstream.on_held();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, config_text(upstream.addr, "", "")).expect("write");
    let mut proxy = Binary::serve(&path);
    let addr = proxy.listening("listening for HTTP");
    let client = client(addr);

    let in_flight = tokio::spawn(async move {
        let resp = client
            .get(format!("http://{SITE_A}:{}/held", addr.port()))
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await?;
        Ok::<_, reqwest::Error>((status, body))
    });
    arrived.recv().await.expect("request reached the upstream");
    proxy.signal("TERM");
    proxy.wait_for("shutting down");
    upstream.release();

    let (status, body) = in_flight.await.expect("join").expect("response completes");
    assert_eq!(status, 200);
    assert_eq!(body, "released");
    let exit = tokio::task::spawn_blocking(move || proxy.wait_exit())
        .await
        .expect("join");
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn serve_refuses_a_bad_config_naming_file_site_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = ["127.0.0.1:0"]

[[site]]
name = "voipexpress"
hosts = ["voipexpress.nl"]
upstream = "htp://127.0.0.1:3000"
jurisdiction = "nl"
"#,
    )
    .expect("write");
    let mut proxy = Binary::serve(&path);
    let exit = proxy.wait_exit();
    assert!(!exit.success());
    let log = proxy.log.lock().expect("lock").join("\n");
    assert!(log.contains(&path.display().to_string()), "{log}");
    assert!(log.contains("site `voipexpress`"), "{log}");
    assert!(log.contains("field `upstream`"), "{log}");
    assert!(log.contains("htp://127.0.0.1:3000"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_has_one_line_per_request_with_a_truncated_address() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, config_text(upstream.addr, "", "")).expect("write");
    let proxy = Binary::serve(&path);
    let addr = proxy.listening("listening for HTTP");
    let client = client(addr);
    client
        .get(format!(
            "http://{SITE_A}:{}/some/page?email=a@b.nl",
            addr.port()
        ))
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) secret-ua")
        .send()
        .await
        .expect("request");
    let line = proxy.wait_for(" access: ");
    assert!(line.contains("site=voipexpress"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    assert!(
        line.contains("path=\"/some/page\""),
        "the query stays out: {line}"
    );
    // A full IP never reaches a log: 127.0.0.1 is written as 127.0.0.0.
    assert!(line.contains("client=127.0.0.0 "), "{line}");
    assert!(!line.contains("127.0.0.1"), "{line}");
    assert!(!line.contains("secret-ua"), "no raw user agent: {line}");
    assert!(!line.contains("a@b.nl"), "{line}");
}
