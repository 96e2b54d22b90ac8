//! Attacks on the server itself, from outside on loopback: connections that never speak,
//! descriptor exhaustion, slow uploads, broken bodies, a second instance, file modes.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Binary, Proxy, SITE_A, Upstream, config_text, raw, status_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes; `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut buf))
        .await
        .ok()
        .map(|_| started.elapsed())
}

#[tokio::test]
async fn silent_connections_are_closed_on_both_listeners() {
    let upstream = Upstream::start().await;
    upstream.page("/", &[("content-type", "text/plain")], "ok");
    let proxy = Proxy::start(&config_text(
        upstream.addr,
        "[server.timeouts]\nheader_read = \"500ms\"\nkeep_alive = \"700ms\"",
        "",
    ))
    .await;
    let admin = proxy.handle.admin_addr.expect("admin listener");
    // Never a byte, on the public and on the admin listener.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(proxy.http()).await.expect("connect"));
        silent.push(TcpStream::connect(admin).await.expect("connect admin"));
    }
    for stream in &mut silent {
        let took = closed_within(stream, Duration::from_secs(10))
            .await
            .expect("a silent connection is closed");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    // Idle after a request on a keep-alive connection.
    let mut kept = TcpStream::connect(proxy.http()).await.expect("connect");
    kept.write_all(format!("GET / HTTP/1.1\r\nHost: {SITE_A}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.expect("answer");
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);
    let took = closed_within(&mut kept, Duration::from_secs(10))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let metrics = proxy.metrics().await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("consent_proxy_silent_connections_closed_total ")
                && !l.ends_with(" 0")
        ),
        "counted"
    );
}

#[tokio::test]
async fn a_slow_upload_is_not_counted_against_the_upstream() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(
        upstream.addr,
        "[server.timeouts]\nupstream_response = \"800ms\"",
        "",
    ))
    .await;
    let mut stream = TcpStream::connect(proxy.http()).await.expect("connect");
    stream
        .write_all(
            format!(
                "POST /sink HTTP/1.1\r\nHost: {SITE_A}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("head");
    // Five chunks over about two seconds: longer than `upstream_response` in all.
    let mut ticks = tokio::time::interval(Duration::from_millis(400));
    for _ in 0..5 {
        ticks.tick().await;
        stream.write_all(b"4\r\nabcd\r\n").await.expect("chunk");
    }
    stream.write_all(b"0\r\n\r\n").await.expect("end");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(
        answer.ends_with("20"),
        "the upstream got every byte: {answer}"
    );
}

#[tokio::test]
async fn a_malformed_client_body_is_a_400_not_a_502() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let answer = raw(
        proxy.http(),
        format!(
            "POST /sink HTTP/1.1\r\nHost: {SITE_A}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             4\r\nabcd\r\nZZZ\r\nnot a chunk\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
}

fn write_config(dir: &std::path::Path, listen: &str, data: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{data}.toml"));
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = [\"{listen}\"]\ndata_dir = \"{data}\"\n\
             [server.timeouts]\nheader_read = \"1s\"\n\n\
             [[site]]\nname = \"a\"\nhosts = [\"{SITE_A}\"]\nupstream = \"http://127.0.0.1:9\"\njurisdiction = \"nl\"\n"
        ),
    )
    .expect("config");
    path
}

#[tokio::test]
async fn a_second_instance_cannot_share_the_port_or_the_data_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let first = Binary::serve(&write_config(dir.path(), "127.0.0.1:0", "one"));
    let addr = first.listening("listening for HTTP");
    // Same port, another data directory: refused, not half the traffic.
    let mut second = Binary::serve(&write_config(dir.path(), &addr.to_string(), "two"));
    assert!(!second.wait_exit().success());
    let log = second.log.lock().expect("lock").join("\n");
    assert!(log.contains("cannot listen on"), "{log}");
    // The cause is said once, not once by the error and again by its chain.
    assert_eq!(log.matches("already listening there").count(), 1, "{log}");
    // Another port, the same data directory: refused too.
    let mut third = Binary::serve(&write_config(dir.path(), "127.0.0.1:0", "one"));
    assert!(!third.wait_exit().success());
    let log = third.log.lock().expect("lock").join("\n");
    assert!(
        log.contains("another process uses this data directory"),
        "{log}"
    );
    // The first is unharmed.
    let answer = raw(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(
        status_of(&answer),
        502,
        "still serving (its upstream is down)"
    );
    drop(first);
}

#[tokio::test]
async fn the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let data = proxy.dir.path().join("data");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700);
    let mut checked = 0;
    for entry in std::fs::read_dir(&data).expect("data dir") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        checked += 1;
    }
    assert!(
        data.join("consent-proxy.db-wal").exists(),
        "the WAL is there and was checked"
    );
    assert!(checked >= 4, "key, token, database, WAL: {checked}");
}

/// Out of file descriptors, the proxy counts and logs failed accepts without spinning, and
/// recovers once silent connections are closed. It also raises its soft limit to the hard
/// limit at start.
#[tokio::test]
async fn descriptor_exhaustion_is_survived() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(dir.path(), "127.0.0.1:0", "fd");
    std::fs::write(
        &path,
        std::fs::read_to_string(&path).expect("config").replace(
            "[server]\n",
            "[server]\nadmin_listen = \"127.0.0.1:0\"\nworkers = 1\n",
        ),
    )
    .expect("config");
    let mut command = Command::new("prlimit");
    command.args([
        "--nofile=64:96",
        env!("CARGO_BIN_EXE_consent-proxy"),
        "serve",
        "--config",
    ]);
    command.arg(&path);
    let proxy = Binary::spawn_command(command);
    let addr = proxy.listening("listening for HTTP");
    let admin = proxy.listening("admin listening");
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", proxy.child.id())).expect("limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    assert!(
        open_files.split_whitespace().nth(3) == Some("96"),
        "soft limit raised to the hard limit: {open_files}"
    );
    // More silent connections than descriptors.
    let mut silent = Vec::new();
    for _ in 0..150 {
        if let Ok(s) = TcpStream::connect(addr).await {
            silent.push(s);
        }
    }
    proxy.wait_for("accept failed");
    // The silent ones are closed within `header_read`; then the proxy serves again.
    for stream in &mut silent {
        let _ = closed_within(stream, Duration::from_secs(15)).await;
    }
    drop(silent);
    let answer = raw(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {SITE_A}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 502, "serving again: {answer}");
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("consent_proxy_accept_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("accept errors metric");
    assert!(errors > 0, "counted");
    // Paused between failures: far fewer failures than a busy loop would make.
    assert!(errors < 2_000, "{errors} accept errors: a busy loop?");
}
