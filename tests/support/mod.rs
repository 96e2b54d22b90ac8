//! Shared fixtures for the integration tests: a recording upstream, the proxy started
//! in-process or as the real binary, raw HTTP on sockets.

#![allow(dead_code)]

pub mod browser;
pub mod ga;
pub mod pebble;
pub mod pki;
pub mod ports;
pub mod postgres;
pub mod recorder;
mod upstream;

pub use upstream::Upstream;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use consent_proxy::config::Config;
use consent_proxy::server::{self, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `data` gzipped (as an origin compresses it).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, data).expect("gzip");
    e.finish().expect("gzip")
}

/// `data` gunzipped, every member of it (a whole gzip stream or a panic).
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(data), &mut out)
        .expect("a whole gzip stream");
    out
}

/// An HTTP date (RFC 9110 §5.6.7) `ago` before now, as an origin dates a file.
pub fn date_ago(ago: Duration) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now() - ago)
}

pub const SITE_A: &str = "voipexpress.test";
pub const SITE_B: &str = "regionummer.test";

/// A fixture upstream behind a proxy of site A (`server_extra` goes into `[server]`),
/// and a client for the proxy.
pub async fn behind_proxy(server_extra: &str) -> (Upstream, Proxy, reqwest::Client) {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, server_extra, "")).await;
    let client = proxy.client();
    (upstream, proxy, client)
}

/// A GET of `path` on site A with these request fields.
pub async fn get_a(
    client: &reqwest::Client,
    proxy: &Proxy,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client.get(proxy.url(SITE_A, path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

/// One series' value in a Prometheus text exposition (0 when it is absent).
pub fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .map_or(0, |v| v.trim().parse().expect("a number"))
}

/// A configuration with two sites (A and B) on the same upstream, listening on port 0.
/// `server_extra` goes into `[server]`, `site_extra` into site A.
pub fn config_text(upstream: SocketAddr, server_extra: &str, site_extra: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"
data_dir = "data"
{server_extra}

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}", "www.{SITE_A}"]
upstream = "http://{upstream}"
jurisdiction = "nl"
{site_extra}

[[site]]
name = "regionummer"
hosts = ["{SITE_B}"]
upstream = "http://{upstream}"
jurisdiction = "nl"
"#
    )
}

/// The proxy started in-process; its data directory lives as long as it does.
pub struct Proxy {
    pub handle: ServerHandle,
    pub dir: tempfile::TempDir,
}

impl Proxy {
    pub async fn start(config_text: &str) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("proxy.toml");
        std::fs::write(&path, config_text).expect("write config");
        let config = Config::load(&path).expect("valid test config");
        let handle = server::start(config).await.expect("proxy starts");
        Proxy { handle, dir }
    }

    pub fn http(&self) -> SocketAddr {
        self.handle.http_addrs[0]
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.http().port())
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let admin = self.handle.admin_addr.expect("admin listener");
        reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The visitor's own consent record on site A, as the preference centre fetches it
    /// (`GET /_cp/consent` with the visitor's `Cookie` header).
    pub async fn consent_record(&self, cookie: &str) -> serde_json::Value {
        self.client()
            .get(self.url(SITE_A, "/_cp/consent"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("record")
            .json()
            .await
            .expect("json")
    }

    /// A client that resolves both test sites to the proxy.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .resolve(SITE_A, self.http())
            .resolve(&format!("www.{SITE_A}"), self.http())
            .resolve(SITE_B, self.http())
            .resolve("unknown.test", self.http())
            .build()
            .expect("client")
    }
}

/// Sends raw bytes and reads the whole answer (the request should say `Connection: close`).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 answer.
pub fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The proxy binary as a child process, with its log lines readable as they come.
pub struct Binary {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    pub fn serve(config: &Path) -> Binary {
        Self::spawn(&["serve", "--config", config.to_str().expect("utf-8 path")])
    }

    pub fn spawn(args: &[&str]) -> Binary {
        let mut command = Command::new(env!("CARGO_BIN_EXE_consent-proxy"));
        command.args(args);
        Self::spawn_command(command)
    }

    /// Runs `command` (the binary, perhaps behind a wrapper such as `prlimit`).
    pub fn spawn_command(mut command: Command) -> Binary {
        if !command.get_envs().any(|(key, _)| key == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start consent-proxy");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().expect("lock").push(line.clone());
                let _ = tx.send(line);
            }
        });
        Binary {
            child,
            lines: rx,
            log,
        }
    }

    /// Blocks until a log line contains `needle`; returns that line.
    pub fn wait_for(&self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(e) => panic!(
                    "no log line with {needle:?} ({e}); log so far:\n{}",
                    self.log.lock().expect("lock").join("\n")
                ),
            }
        }
    }

    /// The address of the first listener whose log line contains `what`.
    pub fn listening(&self, what: &str) -> SocketAddr {
        let line = self.wait_for(what);
        // `addr=…` in the human format, `"addr":"…"` in JSON.
        line.split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .or_else(|| {
                line.split("\"addr\":\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
            })
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Peak resident memory (VmHWM) of the process, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Waits for the process to exit: its stderr closes when it does.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "consent-proxy did not exit; log:\n{}",
                        self.log.lock().expect("lock").join("\n")
                    );
                }
            }
        }
        self.child.wait().expect("wait")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `Set-Cookie` values of a response.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

/// A `cp_consent` cookie for site A granting `granted`, signed with the proxy's own key
/// from its data directory, for policy version `policy` (the test config's is "1").
pub fn consent_cookie(
    proxy: &Proxy,
    granted: &[consent_proxy::consent::Category],
    policy: &str,
) -> String {
    use consent_proxy::catalog::ConsentId;
    use consent_proxy::consent::CategorySet;
    use consent_proxy::consent::cookie::{ConsentCookie, CookieKey};
    let key = std::fs::read(proxy.dir.path().join("data/secret.key")).expect("key file");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    let cookie = ConsentCookie {
        id: ConsentId::random(),
        granted: granted.iter().copied().collect::<CategorySet>(),
        issued: now,
        expires: now + 3600,
    };
    format!(
        "cp_consent={}",
        cookie.encode(&CookieKey::from_bytes(&key), "voipexpress", policy)
    )
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The cookie a `Set-Cookie` value expires (`Max-Age=0`), with the domain it names, if it
/// is one: `("_ga", Some("voipexpress.test"))`.
pub fn expiry(set_cookie: &str) -> Option<(String, Option<String>)> {
    let cookie = cookie::Cookie::parse(set_cookie).ok()?;
    (cookie.max_age() == Some(cookie::time::Duration::ZERO) && cookie.value().is_empty())
        .then(|| (cookie.name().to_owned(), cookie.domain().map(str::to_owned)))
}

/// Whether `set_cookies` expire `name` host-only (`domain: None`) or on `domain`.
pub fn expires(set_cookies: &[String], name: &str, domain: Option<&str>) -> bool {
    set_cookies
        .iter()
        .filter_map(|c| expiry(c))
        .any(|(n, d)| n == name && d.as_deref() == domain)
}

/// Whether `set_cookies` expire `name` at all.
pub fn expires_any(set_cookies: &[String], name: &str) -> bool {
    set_cookies
        .iter()
        .filter_map(|c| expiry(c))
        .any(|(n, _)| n == name)
}
