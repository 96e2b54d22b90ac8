//! Tracker URLs written to slip past a plain string match, loaded in real Chromium through
//! the proxy by a visitor who has not decided: not one of them may even be requested.
//! Every host but the site resolves to a loopback recorder that notes each attempt.

mod support;

use support::browser::{Browser, Options};
use support::recorder::Recorder;
use support::{Proxy, SITE_A, Upstream, config_text};

const TRACKERS: &[&str] = &[
    "www.googletagmanager.com",
    "connect.facebook.net",
    "www.facebook.com",
    "www.youtube.com",
];

/// Every evasion the hardening review found, each on a line of its own.
const EVASIONS: &str = r#"<!doctype html><html lang="en"><head><title>evasions</title>
<script src="https://www.googletagmanager&#46;com/gtag/js?id=G-REF"></script>
<script src="https:\\connect.facebook.net\en_US\fbevents.js"></script>
<script src="https://connect%2Efacebook%2Enet/pct.js"></script>
<script src="https://www.googletagmanager.com/./gtag/js?id=G-DOT"></script>
<script src="HTTPS://CONNECT.FACEBOOK.NET/upper.js"></script>
<style>@import "https://connect.facebook.net/ev-import.css";
.sheet { width: 10px; height: 10px; background: url("https://www.facebook.com/tr?ev=sheet") }
.escaped { width: 10px; height: 10px; background: u\72 l(https://www.facebook\2e com/tr?ev=sheet-escape) }</style>
</head><body><h1>Evasions</h1>
<embed src="https://www.youtube.com/embed/embed" width="10" height="10">
<object data="https://www.youtube.com/embed/object" width="10" height="10"></object>
<input type="image" src="https://www.facebook.com/tr?ev=input" alt="x">
<img srcset="https://www.facebook.com/tr?ev=srcset 1x" alt="">
<picture><source srcset="https://www.facebook.com/tr?ev=source"><img src="/own.png" alt=""></picture>
<video poster="https://www.facebook.com/tr?ev=poster" width="10" height="10"></video>
<div style="width:10px;height:10px;background:url(https://www.facebook.com/tr?ev=style)">s</div>
<div style="width:10px;height:10px;background:Url(https://www.facebook.com/tr?ev=style-case)">s</div>
<div style="width:10px;height:10px;background:u\72l(https://www.facebook\2e com/tr?ev=style-escape)">s</div>
<div style="width:10px;height:10px;background-image:image-set('https://www.facebook.com/tr?ev=image-set' 1x)">s</div>
<div class="escaped">e</div>
<div class="sheet">c</div>
<iframe src="https://www&#x2e;youtube&#x2e;com/embed/ref" width="10" height="10"></iframe>
</body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evasions_reach_no_tracker_in_a_real_browser() {
    let upstream = Upstream::start().await;
    upstream.page(
        "/evasions",
        &[("content-type", "text/html; charset=utf-8")],
        EVASIONS,
    );
    upstream.page("/own.png", &[("content-type", "image/png")], "");
    let recorder = Recorder::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let browser = Browser::start_with(&Options {
        hosts: &[SITE_A],
        recorder: Some(recorder.port),
        accept_language: None,
        user_agent: None,
    })
    .await;
    browser
        .client
        .goto(&proxy.url(SITE_A, "/evasions"))
        .await
        .expect("page loads");
    browser
        .until("document.readyState === 'complete' && window.ConsentProxy")
        .await;
    // The own image in the <picture> loaded: the page was really rendered.
    browser
        .until("document.querySelector('picture img').complete")
        .await;
    let reached: Vec<String> = recorder
        .seen()
        .into_iter()
        .filter(|seen| TRACKERS.iter().any(|t| seen.starts_with(t)))
        .collect();
    assert!(reached.is_empty(), "trackers were contacted: {reached:?}");
    browser.close().await;
}

/// The same page through the proxy, read as text: each evasion was neutralised (not
/// merely unlucky in the browser), and what only older browsers honour is gone too.
#[tokio::test]
async fn evasions_are_neutralised_in_the_markup() {
    let upstream = Upstream::start().await;
    let page = format!(
        "{}<frameset><frame src=\"https://www.youtube.com/embed/frame\"></frameset>\
         <meta http-equiv=\"Set-Cookie\" content=\"_fbp=fb.meta; path=/\">\
         <base href=\"https://connect.facebook.net/en_US/\"><script src=\"fbevents.js\"></script>",
        EVASIONS.trim_end_matches("</body></html>")
    );
    upstream.page(
        "/evasions",
        &[("content-type", "text/html; charset=utf-8")],
        page,
    );
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let html = proxy
        .client()
        .get(proxy.url(SITE_A, "/evasions"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    for live in [
        " src=\"https://www.googletagmanager&#46;com",
        " src=\"https:\\\\connect",
        " src=\"https://connect%2Efacebook",
        " src=\"https://www.googletagmanager.com/./gtag/js",
        "<embed",
        "<object",
        "ev=input",
        "ev=srcset",
        "ev=source",
        "ev=poster",
        "url(https://www.facebook.com/tr?ev=style)",
        "url(\"https://www.facebook.com/tr?ev=sheet\")",
        "ev-import.css",
        "ev=sheet-escape",
        "ev=style-case",
        "ev=style-escape",
        "ev=image-set",
        "<frame src=",
        "http-equiv=\"Set-Cookie\"",
        "<script src=\"fbevents.js\"",
        "<iframe src=\"https://www&#x2e;youtube",
    ] {
        assert!(!html.contains(live), "still live: {live}\n{html}");
    }
    assert!(html.contains("data-cp-src=\"fbevents.js\""), "{html}");
}

/// A site's own inline script writes Meta's `_fbp` with `document.cookie`: the banner asks
/// the server, which expires it (and counts it) at once, without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_written_by_site_scripts_are_expired_and_counted() {
    let upstream = Upstream::start().await;
    upstream.page(
        "/page",
        &[("content-type", "text/html; charset=utf-8")],
        "<!doctype html><html lang=\"en\"><head><title>cookies</title></head><body>\
         <script>document.cookie = '_fbp=fb.1.script; path=/'; document.cookie = 'own=1; path=/';</script>\
         <button id=\"later\" onclick=\"document.cookie = '_ga=GA1.1.later; path=/'\">later</button>\
         </body></html>",
    );
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let browser = Browser::start(&[SITE_A]).await;
    browser
        .client
        .goto(&proxy.url(SITE_A, "/page"))
        .await
        .expect("page loads");
    browser.until("window.ConsentProxy").await;
    browser
        .until("!document.cookie.includes('_fbp=') && document.cookie.includes('own=1')")
        .await;
    // A cookie written later, by a click, goes the same way.
    browser
        .eval("document.getElementById('later').click() || true")
        .await;
    browser.until("!document.cookie.includes('_ga=')").await;
    let metrics = proxy.metrics().await;
    let script = |category: &str| {
        metrics.lines().any(|l| {
            l.starts_with("consent_proxy_cookies_blocked_total{")
                && l.contains("direction=\"script\"")
                && l.contains(&format!("category=\"{category}\""))
                && !l.ends_with(" 0")
        })
    };
    assert!(script("marketing") && script("analytics"), "{metrics}");
    browser.close().await;
}
