//! Pebble, Let's Encrypt's test CA (Debian package `pebble`), on loopback: its own HTTPS
//! certificate from a test CA, a fake DNS (`pebble-challtestsrv`) that points every name
//! at 127.0.0.1, and challenge ports that are the proxy's listeners.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::pki::Ca;
use super::ports::{reserved_addr, reserved_port};

pub struct Pebble {
    pebble: Child,
    dns: Child,
    pub directory: String,
    /// The PEM file that makes Pebble's own HTTPS trusted (`[acme] ca`).
    pub ca_file: PathBuf,
    management: SocketAddr,
    ca_pem: String,
}

pub struct Options {
    /// Where Pebble validates `http-01` (the proxy's plain listener).
    pub http_port: u16,
    /// Where Pebble validates `tls-alpn-01` (the proxy's TLS listener).
    pub tls_port: u16,
    /// Lifetime of issued certificates, in seconds (Pebble's default: about five years).
    pub validity: Option<u64>,
}

impl Pebble {
    pub fn start(dir: &Path, options: &Options) -> Pebble {
        if Command::new("pebble").arg("-help").output().is_err() {
            panic!(
                "`pebble` is not installed (apt-get install pebble); scripts/test.sh installs it"
            );
        }
        let ca = Ca::new("Pebble HTTPS test CA");
        let ca_file = ca.write(dir, "pebble-https-ca.pem");
        let leaf = ca.issue(&["localhost", "127.0.0.1"]);
        let cert = dir.join("pebble-https.pem");
        let key = dir.join("pebble-https.key");
        std::fs::write(&cert, &leaf.cert_pem).expect("write");
        std::fs::write(&key, &leaf.key_pem).expect("write");

        let dns_port = reserved_port();
        let dns = Command::new("pebble-challtestsrv")
            .args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns_port}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{}", reserved_port()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble-challtestsrv");

        let listen: SocketAddr = reserved_addr();
        let management: SocketAddr = reserved_addr();
        let mut pebble_config = serde_json::json!({
            "pebble": {
                "listenAddress": listen.to_string(),
                "managementListenAddress": management.to_string(),
                "certificate": cert,
                "privateKey": key,
                "httpPort": options.http_port,
                "tlsPort": options.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        if let Some(validity) = options.validity {
            pebble_config["pebble"]["certificateValidityPeriod"] = validity.into();
        }
        let config_path = dir.join("pebble.json");
        std::fs::write(&config_path, pebble_config.to_string()).expect("write");
        let mut pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args([
                "-dnsserver",
                &format!("127.0.0.1:{dns_port}"),
                "-strict=false",
            ])
            // No random validation delays, no nonce rejections: the tests wait on events.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble");
        // Pebble prints its listening line once the ACME server accepts connections.
        let stdout = pebble.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut told = false;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if !told && line.contains("Listening on") {
                    let _ = tx.send(());
                    told = true;
                }
            }
        });
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("pebble starts listening");
        Pebble {
            pebble,
            dns,
            directory: format!("https://{listen}/dir"),
            ca_file,
            management,
            ca_pem: ca.pem(),
        }
    }

    /// The root that signs the certificates Pebble issues (new for every Pebble run).
    pub async fn issuing_root(&self) -> String {
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("pem"),
            )
            .build()
            .expect("client");
        client
            .get(format!("https://{}/roots/0", self.management))
            .send()
            .await
            .expect("pebble management")
            .error_for_status()
            .expect("root")
            .text()
            .await
            .expect("pem")
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.pebble.kill();
        let _ = self.dns.kill();
        let _ = self.pebble.wait();
        let _ = self.dns.wait();
    }
}
