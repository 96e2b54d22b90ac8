//! The access line of the real binary: one per request, in the configured format, with the
//! anonymised address only, escaped, flushed when the proxy stops, and switched off by
//! `RUST_LOG` like any other target.

mod support;

use std::process::Command;

use support::{Binary, SITE_A, Upstream, raw};

fn start(upstream: &Upstream, dir: &std::path::Path, format: &str, rust_log: &str) -> Binary {
    let path = dir.join("proxy.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ndata_dir = \"data\"\nlog_format = \"{format}\"\n\n\
             [[site]]\nname = \"a\"\nhosts = [\"{SITE_A}\"]\nupstream = \"http://{}\"\njurisdiction = \"nl\"\n",
            upstream.addr
        ),
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_consent-proxy"));
    command
        .args(["serve", "--config", path.to_str().expect("utf-8")])
        .current_dir(dir)
        .env("RUST_LOG", rust_log);
    Binary::spawn_command(command)
}

/// Sends one request for a path with an encoded quote and newline and a query that names
/// the visitor; returns the `X-Request-Id` the proxy answered with.
async fn request(addr: std::net::SocketAddr) -> String {
    let answer = raw(
        addr,
        format!(
            "GET /a%22%0A/tarieven?email=jan%40example.nl HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(support::status_of(&answer), 200, "{answer}");
    answer
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("x-request-id")
        .trim()
        .to_string()
}

/// Stops the proxy and returns every line it wrote.
fn stop(mut proxy: Binary) -> Vec<String> {
    proxy.signal("TERM");
    assert!(proxy.wait_exit().success());
    proxy.log.lock().expect("lock").clone()
}

#[tokio::test]
async fn a_json_access_line_per_request_with_the_anonymised_address() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = start(&upstream, dir.path(), "json", "info");
    let addr = proxy.listening("listening for HTTP");
    let id = request(addr).await;
    let log = stop(proxy);
    let access: Vec<serde_json::Value> = log
        .iter()
        .filter(|l| l.contains("\"target\":\"access\""))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(access.len(), 1, "one line for one request: {log:#?}");
    let line = &access[0];
    assert_eq!(line["request_id"], id.as_str());
    assert_eq!(line["site"], "a");
    assert_eq!(line["client"], "127.0.0.0", "anonymised to its /24");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/a%22%0A/tarieven");
    assert_eq!(line["status"], 200);
    assert_eq!(line["level"], "INFO");
    assert!(line["micros"].as_u64().is_some() && line["upstream_micros"].as_u64().is_some());
    assert!(
        line["timestamp"]
            .as_str()
            .is_some_and(|t| t.len() == 27 && t.ends_with('Z'))
    );
    let all = log.join("\n");
    assert!(!all.contains("127.0.0.1\""), "no full address in any line");
    assert!(!all.contains("example.nl"), "the query is never logged");
}

#[tokio::test]
async fn the_human_format_and_rust_log_apply_to_the_access_line() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = start(&upstream, dir.path(), "human", "info");
    let addr = proxy.listening("listening for HTTP");
    let id = request(addr).await;
    let log = stop(proxy);
    let line = log
        .iter()
        .find(|l| l.contains(" INFO access: "))
        .unwrap_or_else(|| panic!("no access line: {log:#?}"));
    assert!(
        line.contains(&format!("request_id=\"{id}\" site=a client=127.0.0.0 method=GET path=\"/a%22%0A/tarieven\" status=200 ")),
        "{line}"
    );

    let proxy = start(&upstream, dir.path(), "json", "info,access=off");
    let addr = proxy.listening("listening for HTTP");
    request(addr).await;
    let log = stop(proxy);
    assert!(
        log.iter().any(|l| l.contains("listening for HTTP")),
        "other lines still written: {log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("\"target\":\"access\"")),
        "access=off: {log:#?}"
    );
}
