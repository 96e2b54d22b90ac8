//! Automatic HTTPS against a real ACME server: Pebble, Let's Encrypt's test CA, from
//! Debian's packages. First issuance by `http-01` and by `tls-alpn-01`, handshakes that
//! verify against Pebble's root, certificates loaded from disk at the next start, renewal
//! swapped in under an open connection, and a failing order that retries while the site
//! keeps serving.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use support::pebble::{Options, Pebble};
use support::pki::Ca;
use support::ports::{reserved_addr, reserved_port};
use support::{Binary, SITE_A, SITE_B, Upstream};

const PAGE: &str = "<html><head><title>Welkom</title></head><body>Veilig</body></html>";

struct Setup {
    dir: tempfile::TempDir,
    http: SocketAddr,
    tls: SocketAddr,
    upstream: Upstream,
}

async fn setup() -> Setup {
    let upstream = Upstream::start().await;
    upstream.page("/", &[("content-type", "text/html; charset=utf-8")], PAGE);
    Setup {
        dir: tempfile::tempdir().expect("tempdir"),
        http: reserved_addr(),
        tls: reserved_addr(),
        upstream,
    }
}

impl Setup {
    fn pebble(&self, validity: Option<u64>, http_port: Option<u16>) -> Pebble {
        Pebble::start(
            self.dir.path(),
            &Options {
                http_port: http_port.unwrap_or(self.http.port()),
                tls_port: self.tls.port(),
                validity,
            },
        )
    }

    /// Site A by ACME (both its names), plus `extra` sites.
    fn config(&self, pebble: &Pebble, challenge: &str, extra: &str) -> std::path::PathBuf {
        let text = format!(
            r#"
[server]
listen = ["{http}"]
tls_listen = ["{tls}"]
admin_listen = "127.0.0.1:0"
data_dir = "data"
redirect_to_https = true

[acme]
directory = "{directory}"
ca = "{ca}"
email = "hostmaster@voipexpress.test"
challenge = "{challenge}"
retry = "1s"

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}", "www.{SITE_A}"]
upstream = "http://{upstream}"
jurisdiction = "nl"
tls = "acme"
{extra}
"#,
            http = self.http,
            tls = self.tls,
            directory = pebble.directory,
            ca = pebble.ca_file.display(),
            upstream = self.upstream.addr,
        );
        let path = self.dir.path().join("proxy.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn https(&self, roots: &[&str]) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_info(true)
            .resolve(SITE_A, self.tls)
            .resolve(&format!("www.{SITE_A}"), self.tls)
            .resolve(SITE_B, self.tls);
        for root in roots {
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_pem(root.as_bytes()).expect("pem"),
            );
        }
        builder.build().expect("client")
    }
}

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The leaf certificate (DER) the server presented.
fn peer_certificate(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("peer certificate")
        .to_vec()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn http_01_issues_a_certificate_that_verifies_and_the_next_start_loads_it() {
    let s = setup().await;
    let pebble = s.pebble(None, None);
    let config = s.config(&pebble, "http-01", "");
    let proxy = Binary::serve(&config);
    let admin = proxy.listening("admin listening");
    let line = proxy.wait_for("certificate issued and in use");
    assert!(line.contains("site=voipexpress"), "{line}");
    let root = pebble.issuing_root().await;
    let client = s.https(&[&root]);
    for host in [SITE_A.to_owned(), format!("www.{SITE_A}")] {
        let resp = client
            .get(format!("https://{host}:{}/", s.tls.port()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{host} over HTTPS: {e:?}"));
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.expect("body").contains("Veilig"));
    }
    // With a certificate in place, plain HTTP redirects to HTTPS again.
    let resp = plain()
        .get(format!("http://{}/prijzen", s.http))
        .header("host", SITE_A)
        .send()
        .await
        .expect("plain");
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        format!("https://{SITE_A}/prijzen").as_str()
    );
    // Key, chain and account are private to the proxy's user.
    let acme_dir = s.dir.path().join("data/acme");
    assert_eq!(mode(&acme_dir.join("voipexpress.key")), 0o600);
    assert_eq!(mode(&acme_dir.join("voipexpress.crt")), 0o600);
    let account = std::fs::read_dir(&acme_dir)
        .expect("acme dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("account-"))
        .expect("account file");
    assert_eq!(mode(&account.path()), 0o600);
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("consent_proxy_acme_orders_total{site=\"voipexpress\"} 1"),
        "{metrics}"
    );
    let days: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("consent_proxy_acme_certificate_days_left{site=\"voipexpress\"} ")
        })
        .and_then(|v| v.parse().ok())
        .expect("days left");
    assert!(days > 30.0, "{days}");

    // The clients' connections close while the runtime keeps running (an HTTP/2 server
    // waits for its GOAWAY ping to be answered).
    drop(client);
    proxy.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let mut proxy = proxy;
        proxy.wait_exit()
    })
    .await
    .expect("join");
    assert!(status.success(), "{status:?}");
    // The next start serves the stored certificate at once and orders nothing.
    let proxy = Binary::serve(&config);
    proxy.wait_for("listening for HTTPS");
    let resp = s
        .https(&[&root])
        .get(format!("https://{SITE_A}:{}/", s.tls.port()))
        .send()
        .await
        .expect("HTTPS after restart");
    assert_eq!(resp.status(), 200);
    assert!(
        !proxy
            .log
            .lock()
            .expect("log")
            .iter()
            .any(|l| l.contains("ordering a certificate")),
        "a stored certificate is not ordered again"
    );
}

#[tokio::test]
async fn tls_alpn_01_issues_on_the_tls_listener_alone() {
    let s = setup().await;
    // Nothing answers http-01 for Pebble: only the TLS listener can prove control.
    let pebble = s.pebble(None, Some(reserved_port()));
    let config = s.config(&pebble, "tls-alpn-01", "");
    let proxy = Binary::serve(&config);
    proxy.wait_for("certificate issued and in use");
    let root = pebble.issuing_root().await;
    let resp = s
        .https(&[&root])
        .get(format!("https://www.{SITE_A}:{}/", s.tls.port()))
        .send()
        .await
        .expect("HTTPS");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("body").contains("Veilig"));
}

/// An HTTP/1.1 connection over TLS, kept open across requests.
async fn open_connection(
    tls: SocketAddr,
    root: &str,
) -> (
    hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    Vec<u8>,
) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut root.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(tls).await.expect("connect");
    let stream = connector
        .connect(SITE_A.try_into().expect("name"), tcp)
        .await
        .expect("handshake verifies against Pebble's root");
    let leaf = stream.get_ref().1.peer_certificates().expect("certs")[0].to_vec();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1");
    tokio::spawn(conn);
    (send, leaf)
}

async fn get(send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) -> u16 {
    let req = http::Request::get("/")
        .header("host", SITE_A)
        .body(Empty::new())
        .expect("request");
    let resp = send.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    resp.into_body().collect().await.expect("body");
    status
}

#[tokio::test]
async fn a_short_lived_certificate_is_renewed_and_swapped_in_under_an_open_connection() {
    let s = setup().await;
    // Nine-second certificates: renewal is due when three are left.
    let pebble = s.pebble(Some(9), None);
    let config = s.config(&pebble, "http-01", "");
    let proxy = Binary::serve(&config);
    proxy.wait_for("certificate issued and in use");
    let root = pebble.issuing_root().await;
    let (mut open, first) = open_connection(s.tls, &root).await;
    assert_eq!(get(&mut open).await, 200);

    proxy.wait_for("certificate issued and in use");
    // The connection opened under the old certificate still serves…
    assert_eq!(get(&mut open).await, 200);
    // …and a new connection gets the new certificate.
    let (mut fresh, second) = open_connection(s.tls, &root).await;
    assert_eq!(get(&mut fresh).await, 200);
    assert_ne!(first, second, "the renewed certificate is in use");
    let ordered = proxy
        .log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| l.contains("ordering a certificate"))
        .count();
    assert!(ordered >= 2, "{ordered}");
}

#[tokio::test]
async fn a_failing_order_retries_with_backoff_while_the_site_keeps_serving() {
    let s = setup().await;
    // Pebble validates http-01 on a port where nothing listens: every order fails.
    let pebble = s.pebble(None, Some(reserved_port()));
    let ca = Ca::new("Site B CA");
    let leaf = ca.issue(&[SITE_B]);
    std::fs::write(s.dir.path().join("b.pem"), &leaf.cert_pem).expect("write");
    std::fs::write(s.dir.path().join("b.key"), &leaf.key_pem).expect("write");
    let config = s.config(
        &pebble,
        "http-01",
        &format!(
            "\n[[site]]\nname = \"regionummer\"\nhosts = [\"{SITE_B}\"]\nupstream = \"http://{}\"\n\
             jurisdiction = \"nl\"\ntls = {{ cert = \"b.pem\", key = \"b.key\" }}\n",
            s.upstream.addr
        ),
    );
    let proxy = Binary::serve(&config);
    let admin = proxy.listening("admin listening");
    let first = proxy.wait_for("certificate order failed");
    assert!(first.contains("site=voipexpress"), "{first}");
    assert!(first.contains("retry_in=1s"), "{first}");
    assert!(
        first.contains("plain HTTP keeps serving"),
        "says what happens next: {first}"
    );
    let second = proxy.wait_for("certificate order failed");
    assert!(second.contains("retry_in=2s"), "backoff doubles: {second}");

    // The site stays up over plain HTTP: no redirect to an HTTPS that cannot answer.
    let resp = plain()
        .get(format!("http://{}/", s.http))
        .header("host", SITE_A)
        .send()
        .await
        .expect("plain");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("body").contains("Veilig"));
    // HTTPS for it fails cleanly: no certificate at all, not another site's.
    let client = s.https(&[&ca.pem()]);
    let err = client
        .get(format!("https://{SITE_A}:{}/", s.tls.port()))
        .send()
        .await
        .expect_err("no certificate yet");
    assert!(err.is_connect(), "{err:?}");
    // The other site's HTTPS is untouched.
    let resp = client
        .get(format!("https://{SITE_B}:{}/", s.tls.port()))
        .send()
        .await
        .expect("site B over HTTPS");
    assert_eq!(resp.status(), 200);
    let leaf_der = peer_certificate(&resp);
    assert!(!leaf_der.is_empty());

    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let failures: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("consent_proxy_acme_order_failures_total{site=\"voipexpress\"} ")
        })
        .and_then(|v| v.parse().ok())
        .expect("failures");
    assert!(failures >= 2, "{metrics}");
}

/// A load balancer in miniature: connections alternate between the backends (and go to
/// the other one if a backend is down). It starts passing connections on once `ready`
/// fires; until then they wait in the listen backlog.
async fn round_robin(
    backends: [SocketAddr; 2],
    ready: tokio::sync::oneshot::Receiver<()>,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = ready.await;
        let mut turn = 0usize;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let first = turn % 2;
            turn += 1;
            tokio::spawn(async move {
                for backend in [backends[first], backends[1 - first]] {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_postgres_order_once_answer_each_others_challenges_and_share_the_certificate()
 {
    let upstream = Upstream::start().await;
    upstream.page("/", &[("content-type", "text/html; charset=utf-8")], PAGE);
    let db = support::postgres::fresh_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let http: [SocketAddr; 2] = [0, 1].map(|_| reserved_addr());
    let tls: [SocketAddr; 2] = [0, 1].map(|_| reserved_addr());
    std::fs::write(dir.path().join("shared.key"), [7u8; 32]).expect("key");
    // The CA's validation requests reach both replicas in turn.
    let (ready, both_up) = tokio::sync::oneshot::channel();
    let balancer = round_robin(http, both_up).await;
    let pebble = Pebble::start(
        dir.path(),
        &Options {
            http_port: balancer.port(),
            tls_port: tls[0].port(),
            validity: None,
        },
    );
    let replicas: Vec<Binary> = (0..2)
        .map(|n| {
            let path = dir.path().join(format!("replica{n}.toml"));
            std::fs::write(
                &path,
                format!(
                    r#"
[server]
listen = ["{http}"]
tls_listen = ["{tls}"]
data_dir = "data{n}"
secret_key_file = "shared.key"

[storage]
url = "{db}"

[acme]
directory = "{directory}"
ca = "{ca}"
retry = "1s"

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}", "www.{SITE_A}"]
upstream = "http://{upstream}"
jurisdiction = "nl"
tls = "acme"
"#,
                    http = http[n],
                    tls = tls[n],
                    directory = pebble.directory,
                    ca = pebble.ca_file.display(),
                    upstream = upstream.addr,
                ),
            )
            .expect("config");
            path
        })
        .map(|path| Binary::serve(&path))
        .collect();
    for replica in &replicas {
        replica.listening("listening for HTTP");
    }
    ready.send(()).expect("balancer");
    for replica in &replicas {
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            replica.wait_for("in use site=voipexpress")
        }));
        if waited.is_err() {
            for (n, r) in replicas.iter().enumerate() {
                eprintln!(
                    "--- replica {n}:\n{}",
                    r.log
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .join("\n")
                );
            }
            panic!("a replica has no certificate in use");
        }
    }
    let root = pebble.issuing_root().await;
    let mut presented = Vec::new();
    for (n, addr) in tls.iter().enumerate() {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_info(true)
            .resolve(SITE_A, *addr)
            .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).expect("pem"))
            .build()
            .expect("client");
        let resp = client
            .get(format!("https://{SITE_A}:{}/", addr.port()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("replica {n} over HTTPS: {e:?}"));
        assert_eq!(resp.status(), 200);
        presented.push(peer_certificate(&resp));
    }
    assert_eq!(presented[0], presented[1], "one certificate for both");
    let logs: Vec<Vec<String>> = replicas
        .iter()
        .map(|r| r.log.lock().expect("log").clone())
        .collect();
    let count = |needle: &str| -> Vec<usize> {
        logs.iter()
            .map(|log| log.iter().filter(|l| l.contains(needle)).count())
            .collect()
    };
    assert_eq!(
        count("ordering a certificate").iter().sum::<usize>(),
        1,
        "only one replica orders"
    );
    assert_eq!(count("ACME account created").iter().sum::<usize>(), 1);
    // Both answered the CA's validation requests: one of them from the shared store.
    let answered = count("/.well-known/acme-challenge/");
    assert!(answered.iter().all(|&n| n > 0), "{answered:?}");
    assert!(
        logs.iter()
            .flatten()
            .filter(|l| l.contains("/.well-known/acme-challenge/"))
            .all(|l| l.contains("status=200")),
        "every validation request was answered"
    );
}

#[tokio::test]
async fn a_ca_that_never_answers_does_not_hold_up_a_shutdown() {
    // Accepts connections and never says a word: the order hangs in its first request.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let directory = format!("https://{}/dir", silent.local_addr().expect("addr"));
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ndata_dir = \"data\"\n\
             [server.timeouts]\nshutdown_grace = \"2s\"\n\
             [acme]\ndirectory = \"{directory}\"\n\
             [[site]]\nname = \"voipexpress\"\nhosts = [\"{SITE_A}\"]\n\
             upstream = \"http://{}\"\njurisdiction = \"nl\"\ntls = \"acme\"\n",
            upstream.addr
        ),
    )
    .expect("config");
    let proxy = Binary::serve(&path);
    proxy.listening("listening for HTTP");
    // The connection to the CA is open (and will stay silent).
    let (_held, _) = silent.accept().expect("the proxy calls the CA");
    proxy.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let mut proxy = proxy;
        proxy.wait_exit()
    })
    .await
    .expect("join");
    assert!(status.success(), "{status:?}");
}
