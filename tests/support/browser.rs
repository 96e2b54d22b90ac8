//! Real headless Chromium, driven over WebDriver (Debian's chromium and chromium-driver).
//!
//! Every host name resolves to loopback only through `--host-resolver-rules`; all other
//! names do not resolve at all, so a page cannot reach anything but the test's servers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

pub struct Browser {
    pub client: Client,
    driver: Child,
}

/// How to start the browser.
#[derive(Default)]
pub struct Options<'a> {
    /// Names that resolve to 127.0.0.1 (the test sites).
    pub hosts: &'a [&'a str],
    /// Every other name goes to this loopback port (a [`super::recorder::Recorder`]);
    /// `None`: other names do not resolve.
    pub recorder: Option<u16>,
    /// The browser's `Accept-Language`.
    pub accept_language: Option<&'a str>,
    /// Another `User-Agent` (headless Chromium's own says "HeadlessChrome", which the
    /// collector rightly counts as a bot).
    pub user_agent: Option<&'a str>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose only resolvable names are `hosts`
    /// (all on 127.0.0.1).
    pub async fn start(hosts: &[&str]) -> Browser {
        Browser::start_with(&Options {
            hosts,
            ..Options::default()
        })
        .await
    }

    pub async fn start_with(options: &Options<'_>) -> Browser {
        let hosts = options.hosts;
        // fantoccini's TLS stack enables a second rustls provider; pick ours explicitly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = super::ports::reserved_port();
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/test.sh installs chromium-driver)");
        // chromedriver says when it listens; read that line instead of guessing a delay.
        let stdout = driver.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("started successfully") => break,
                Some(Ok(_)) => continue,
                _ => panic!("chromedriver did not start"),
            }
        }
        std::thread::spawn(move || for _ in lines {});

        let mut rules: Vec<String> = hosts.iter().map(|h| format!("MAP {h} 127.0.0.1")).collect();
        rules.push(match options.recorder {
            Some(port) => format!("MAP * 127.0.0.1:{port}"),
            None => "MAP * ~NOTFOUND".into(),
        });
        let profile = tempfile::tempdir().expect("profile").keep();
        let mut extra: Vec<String> = Vec::new();
        if let Some(ua) = options.user_agent {
            extra.push(format!("--user-agent={ua}"));
        }
        let mut args: Vec<String> = vec![
            // The recorder plays every third party with a self-signed certificate.
            "--ignore-certificate-errors",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--host-resolver-rules={}", rules.join(", ")),
            "--window-size=1280,900",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.extend(extra);
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "prefs": { "intl.accept_languages": options.accept_language.unwrap_or("en-US,en") },
                "args": args
            }
        });
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        };
        let client = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        Browser { client, driver }
    }

    /// Waits for a page that a click or a form submission navigates to: a short
    /// synchronous check, asked again while the old document unloads and the new one
    /// loads (an asynchronous one can be cut off by the navigation).
    pub async fn arrived(&self, expression: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let check = format!("return !!(document.readyState === 'complete' && ({expression}));");
        loop {
            if let Ok(serde_json::Value::Bool(true)) = self.client.execute(&check, vec![]).await {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never arrived: {expression}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Evaluates `expression` in the page until it is truthy (checked in the browser on
    /// every animation frame, up to 10 s); returns its value.
    pub async fn until(&self, expression: &str) -> serde_json::Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const started = Date.now();
             (function check() {{
               let value;
               try {{ value = ({expression}); }} catch (e) {{ value = undefined; }}
               if (value) {{ done(value); }}
               else if (Date.now() - started > 10000) {{ done(null); }}
               else {{ requestAnimationFrame(check); }}
             }})();"
        );
        // A navigation (a click on a link, a form) can unload the document while the
        // check runs: then it runs again in the new one.
        let mut unloaded = 0;
        let value = loop {
            match self.client.execute_async(&script, vec![]).await {
                Ok(value) => break value,
                Err(e) if unloaded < 20 && e.to_string().contains("unloaded") => unloaded += 1,
                Err(e) => panic!("script runs: {e}"),
            }
        };
        assert!(
            !value.is_null(),
            "never became true in the page: {expression}"
        );
        value
    }

    pub async fn eval(&self, expression: &str) -> serde_json::Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .expect("script runs")
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        self.client
            .issue_cmd(Cdp {
                body: json!({ "cmd": cmd, "params": params }).to_string(),
            })
            .await
            .expect("cdp command")
    }

    /// Sends `Sec-GPC: 1` with every request from now on (Global Privacy Control), as
    /// Brave, Firefox and DuckDuckGo do when it is switched on.
    pub async fn enable_gpc(&self) {
        self.cdp("Network.enable", json!({})).await;
        self.cdp(
            "Network.setExtraHTTPHeaders",
            json!({ "headers": { "Sec-GPC": "1" } }),
        )
        .await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// chromedriver's CDP passthrough (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    body: String,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.clone()))
    }
}
