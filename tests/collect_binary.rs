//! Event collection through the real binary: the GA queue survives a GA outage and a
//! restart of the proxy, and — a property over random addresses — no full address and no
//! raw user agent reaches a GA payload, a log line or a stored row.

mod support;

use std::path::Path;

use consent_proxy::catalog::{CategorySet, ConsentId};
use consent_proxy::consent::cookie::{ConsentCookie, CookieKey};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};
use support::ga::{API_SECRET, GaServer, MEASUREMENT_ID};
use support::{Binary, SITE_A, Upstream};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A config for the binary: site A forwarding to `ga`, trusting loopback's
/// `X-Forwarded-For` (so a test can play visitors from any address).
fn write_config(dir: &Path, upstream: std::net::SocketAddr, ga: &GaServer) -> std::path::PathBuf {
    std::fs::write(dir.join("ga.secret"), API_SECRET).expect("secret");
    let path = dir.join("proxy.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ndata_dir = \"data\"\ntrusted_proxies = [\"127.0.0.1\"]\n\n\
             [[site]]\nname = \"voipexpress\"\nhosts = [\"{SITE_A}\"]\nupstream = \"http://{upstream}\"\njurisdiction = \"nl\"\n\
             ga = {{ measurement_id = \"{MEASUREMENT_ID}\", endpoint = \"{}\", api_secret_file = \"ga.secret\" }}\n",
            ga.endpoint()
        ),
    )
    .expect("config");
    path
}

/// A `cp_consent` granting analytics, signed with the binary's key.
fn granted(dir: &Path) -> String {
    let key = std::fs::read(dir.join("data/secret.key")).expect("key");
    let now = u32::try_from(consent_proxy::clock::unix_now()).expect("time");
    let cookie = ConsentCookie {
        id: ConsentId::random(),
        granted: CategorySet::NECESSARY_ONLY.with(consent_proxy::catalog::Category::Analytics),
        issued: now,
        expires: now + 3600,
    };
    format!(
        "cp_consent={}",
        cookie.encode(&CookieKey::from_bytes(&key), "voipexpress", "1")
    )
}

async fn send(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
    cookie: &str,
    from: &str,
    user_agent: &str,
    n: usize,
) -> u16 {
    let origin = format!("http://{SITE_A}:{}", addr.port());
    client
        .post(format!("{origin}/_cp/collect"))
        .header("origin", &origin)
        .header("content-type", "text/plain")
        .header("accept-language", "nl")
        .header("user-agent", user_agent)
        .header("x-forwarded-for", from)
        .header("cookie", cookie)
        .body(
            json!({ "events": [{ "name": "sign_up", "url": format!("{origin}/bestel"),
                "params": { "n": n } }] })
            .to_string(),
        )
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

fn client(addr: std::net::SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(SITE_A, addr)
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_a_ga_outage_and_a_restart() {
    let upstream = Upstream::start().await;
    let ga = GaServer::start().await;
    let ga_addr = ga.addr;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), upstream.addr, &ga);
    let mut proxy = Binary::serve(&config);
    let addr = proxy.listening("listening for HTTP");
    let cookie = granted(dir.path());
    let http = client(addr);
    // Ten events while GA is up, twenty while it is down.
    for n in 0..10 {
        assert_eq!(
            send(&http, addr, &cookie, "198.51.100.7", CHROME, n).await,
            204
        );
    }
    ga.until("the first ten", |e| e.len() >= 10).await;
    ga.stop().await;
    for n in 10..30 {
        assert_eq!(
            send(&http, addr, &cookie, "198.51.100.7", CHROME, n).await,
            204
        );
    }
    proxy.wait_for("GA: request failed; will retry");
    // The proxy stops and starts again on the same data directory; then GA comes back.
    proxy.signal("TERM");
    assert!(proxy.wait_exit().success());
    let proxy = Binary::serve(&config);
    proxy.listening("listening for HTTP");
    let back = GaServer::start_on(ga_addr).await;
    back.until("the twenty queued while GA was down", |e| e.len() >= 20)
        .await;
    let mut seen: Vec<u64> = ga
        .events()
        .iter()
        .chain(back.events().iter())
        .map(|e| e["params"]["n"].as_f64().expect("n") as u64)
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..30).collect::<Vec<u64>>(),
        "every event exactly once"
    );
    assert!(ga.problems().is_empty() && back.problems().is_empty());
    drop(proxy);
}

/// Strings that must never leave the proxy's memory for one request.
fn forbidden_forms(ip: std::net::IpAddr) -> Vec<String> {
    let mut forms = vec![ip.to_string()];
    if let std::net::IpAddr::V6(v6) = ip
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        forms.push(v4.to_string());
    }
    forms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_full_address_or_user_agent_reaches_ga_logs_or_storage() {
    let upstream = Upstream::start().await;
    let ga = GaServer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), upstream.addr, &ga);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_consent-proxy"));
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug");
    let proxy = Binary::spawn_command(command);
    let addr = proxy.listening("listening for HTTP");
    let cookie = granted(dir.path());
    let http = client(addr);

    // Random IPv4, IPv6 and IPv4-mapped IPv6 visitors, each with a user agent carrying a
    // unique marker.
    let strategy = prop_oneof![
        any::<[u8; 4]>().prop_map(std::net::IpAddr::from),
        any::<[u16; 8]>().prop_map(std::net::IpAddr::from),
        any::<[u8; 4]>()
            .prop_map(|o| std::net::IpAddr::V6(std::net::Ipv4Addr::from(o).to_ipv6_mapped())),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    let mut visitors = Vec::new();
    let anonymizer = consent_proxy::privacy::IpAnonymizer::new(24, 48);
    for i in 0..48 {
        // Loopback is the test's own peer; an address whose host bits are all zero *is*
        // its truncation, which may be logged.
        let ip = loop {
            let ip = strategy.new_tree(&mut runner).expect("value").current();
            let canonical = match ip {
                std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
                v4 => v4,
            };
            if !canonical.is_loopback()
                && !canonical.is_unspecified()
                && anonymizer.anonymize(ip).addr() != canonical
            {
                break ip;
            }
        };
        let marker = format!("Marker{i}x{:08x}", i * 2_654_435_761usize % 0xffff_ffff);
        let ua = format!("{CHROME} {marker}");
        assert_eq!(
            send(&http, addr, &cookie, &ip.to_string(), &ua, i).await,
            204
        );
        visitors.push((ip, marker));
    }
    ga.until("every event", |e| e.len() >= 48).await;
    // Everything the proxy wrote: GA payloads, its log, its database files.
    let mut written = ga
        .received()
        .iter()
        .map(|r| r.raw.clone())
        .collect::<Vec<_>>()
        .join("\n");
    written.push_str(&proxy.log.lock().expect("log").join("\n"));
    for entry in std::fs::read_dir(dir.path().join("data")).expect("data") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("file");
        written.push_str(&String::from_utf8_lossy(&bytes));
    }
    let written_lower = written.to_ascii_lowercase();
    for (ip, marker) in &visitors {
        for form in forbidden_forms(*ip) {
            // A short address like `1.2.3.4` could occur by chance inside other numbers;
            // it is searched as a whole token.
            let found = written_lower
                .match_indices(&form.to_ascii_lowercase())
                .any(|(at, _)| {
                    let before = written_lower[..at].chars().next_back();
                    let after = written_lower[at + form.len()..].chars().next();
                    let edge = |c: Option<char>| {
                        c.is_none_or(|c| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
                    };
                    edge(before) && edge(after)
                });
            assert!(!found, "the full address {form} was written somewhere");
        }
        assert!(
            !written.contains(marker.as_str()),
            "the raw user agent {marker} was written somewhere"
        );
    }
    let _: Vec<Value> = ga.events();
}

/// `consent-proxy ga-check` sends the proxy's payload shape to the validation endpoint and
/// prints what it says; the stand-in validates as Google's validation server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ga_check_reports_the_validation_servers_verdict() {
    let upstream = Upstream::start().await;
    let ga = GaServer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), upstream.addr, &ga);
    let run = |config: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_consent-proxy"))
                .args(["ga-check", "--site", "voipexpress", "--config"])
                .arg(config)
                .output()
                .expect("ga-check runs")
        })
    };
    let out = run(config.clone()).await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("valid: Google's validation server reported no problem"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"user_location\""),
        "the payload is shown: {stdout}"
    );
    assert!(!stdout.contains(API_SECRET), "the secret is never printed");
    // A wrong secret: the validation server's message, and a failing exit.
    std::fs::write(dir.path().join("ga.secret"), "wrong").expect("secret");
    let out = run(config).await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("api_secret"), "{stdout}");
}
