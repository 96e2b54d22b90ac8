//! The test world: the demo site behind the proxy, a recorder for every other host, and
//! Chromium; and what a visitor does there (visit, click, reload) and what a test reads.

use fantoccini::Locator;
use serde_json::Value;

use crate::support::browser::{Browser, Options};
use crate::support::recorder::Recorder;
use crate::support::{Proxy, SITE_A};

pub const SITE_BE: &str = "zonenummer.test";
/// A site that keeps its own gtag behind Google Consent Mode v2 (`ga.mode = "client"`).
pub const SITE_CLIENT_GA: &str = "telefonie.test";

/// Every third party the demo page names (scripts, pixel, embeds, preconnect).
pub const TRACKER_HOSTS: &[&str] = &[
    "www.googletagmanager.com",
    "www.google-analytics.com",
    "region1.google-analytics.com",
    "connect.facebook.net",
    "www.facebook.com",
    "www.youtube.com",
];

/// The banner's shadow root, for in-page expressions.
pub const ROOT: &str = "document.querySelector('[data-cp-root]').shadowRoot";

pub struct World {
    pub recorder: Recorder,
    pub proxy: Proxy,
    pub browser: Browser,
}

pub async fn world(accept_language: &str) -> World {
    let site = consent_proxy::demo::site::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("demo site");
    let recorder = Recorder::start().await;
    let proxy = Proxy::start(&format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"
data_dir = "data"

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}"]
upstream = "http://{site}"
jurisdiction = "nl"
languages = ["nl", "en"]
privacy_policy_url = "/privacy.html"

[[site.services]]
name = "Google Analytics"
provider = "Google Ireland Ltd."
category = "analytics"
purpose = {{ nl = "Bezoekersstatistieken", en = "Visitor statistics" }}
cookies = [{{ name = "_ga", lifetime = "2years" }}]

[[site.services]]
name = "Meta Pixel"
provider = "Meta Platforms Ireland Ltd."
category = "marketing"
purpose = "Advertising"
cookies = [{{ name = "_fbp", lifetime = "90days" }}]

[[site]]
name = "zonenummer"
hosts = ["{SITE_BE}"]
upstream = "http://{site}"
jurisdiction = "be"

[[site]]
name = "telefonie"
hosts = ["{SITE_CLIENT_GA}"]
upstream = "http://{site}"
jurisdiction = "nl"
ga = {{ measurement_id = "G-DEMO12345", mode = "client" }}
"#
    ))
    .await;
    let browser = Browser::start_with(&Options {
        hosts: &[SITE_A, SITE_BE, SITE_CLIENT_GA],
        recorder: Some(recorder.port),
        accept_language: Some(accept_language),
        user_agent: None,
    })
    .await;
    World {
        recorder,
        proxy,
        browser,
    }
}

impl World {
    pub async fn visit(&self, host: &str, path: &str) {
        self.browser
            .client
            .goto(&self.proxy.url(host, path))
            .await
            .expect("page loads");
        self.browser.until("window.ConsentProxy").await;
    }

    /// Waits until the banner's first layer shows (or, with `false`, until the UI is
    /// mounted with the first layer hidden).
    pub async fn banner_shown(&self, shown: bool) {
        self.browser
            .until(&format!(
                "document.querySelector('[data-cp-root]') && {ROOT}.querySelector('[data-cp-banner]') && \
                 {ROOT}.querySelector('[data-cp-banner]').hidden === {}",
                !shown
            ))
            .await;
    }

    /// Waits until the part `selector` of the banner (a layer, the floating button) shows.
    pub async fn shown(&self, selector: &str) {
        self.browser
            .until(&format!("!{ROOT}.querySelector('{selector}').hidden"))
            .await;
    }

    /// Clicks an element of the banner's shadow root, as a mouse user would.
    pub async fn click(&self, selector: &str) {
        let host = self
            .browser
            .client
            .find(Locator::Css("[data-cp-root]"))
            .await
            .expect("banner host");
        let root = host.shadow_root().await.expect("open shadow root");
        root.find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .expect("click");
    }

    pub async fn cookie_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .browser
            .client
            .get_all_cookies()
            .await
            .expect("cookies")
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Reloads and waits for the new document's banner script.
    pub async fn reload(&self) {
        self.browser.client.refresh().await.expect("reload");
        self.browser.until("window.ConsentProxy").await;
    }

    /// Waits for a reload the page starts itself (after a withdrawal).
    pub async fn page_reloaded(&self) {
        for _ in 0..50 {
            // The marker set before the action disappears with the old document. A script
            // that runs while the page unloads fails; the next attempt waits in the new one.
            if let Ok(v) = self
                .browser
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     const started = Date.now();
                     (function check() {
                       if (!window.cpMarker && window.ConsentProxy && document.readyState === 'complete') { done(true); }
                       else if (Date.now() - started > 10000) { done(false); }
                       else { requestAnimationFrame(check); }
                     })();",
                    vec![],
                )
                .await
                && v == Value::Bool(true)
            {
                return;
            }
        }
        panic!("the page did not reload");
    }

    /// No attempt at any of the demo page's third parties. (The browser's own background
    /// traffic — update checks, its start page — also lands in the recorder and is not
    /// the site's doing.)
    pub fn assert_no_tracker_reached(&self, when: &str) {
        let trackers = self.tracker_requests();
        assert!(
            trackers.is_empty(),
            "{when}: trackers were contacted: {trackers:?}"
        );
    }

    pub fn tracker_requests(&self) -> Vec<String> {
        self.recorder
            .seen()
            .into_iter()
            .filter(|e| TRACKER_HOSTS.iter().any(|h| e.starts_with(h)))
            .collect()
    }

    pub async fn close(self) {
        self.browser.close().await;
    }
}

pub fn has(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}
