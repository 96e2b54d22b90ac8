//! In real Chromium, through the proxy: a site keeps calling its own `gtag('event', …)`
//! and those events reach GA4 from the proxy — while Google's gtag.js is never even
//! requested from the visitor's browser; single-page navigations count as page views.

mod support;

use fantoccini::Locator;
use support::browser::{Browser, Options};
use support::ga::{API_SECRET, GaServer, MEASUREMENT_ID};
use support::recorder::Recorder;
use support::{Proxy, SITE_A, Upstream, config_text};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sites_own_gtag_events_reach_ga_through_the_proxy_and_gtag_js_never_loads() {
    let upstream = Upstream::start().await;
    upstream.page(
        "/shop",
        &[("content-type", "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html lang=\"en\"><head><title>Shop</title>\
             <script async src=\"https://www.googletagmanager.com/gtag/js?id={MEASUREMENT_ID}\"></script>\
             <script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}\
             gtag('js', new Date()); gtag('config', '{MEASUREMENT_ID}');</script>\
             </head><body><h1>Shop</h1>\
             <button id=\"buy\" onclick=\"gtag('event', 'purchase_click', {{ plan: 'pro', value: 12 }})\">Buy</button>\
             <button id=\"next\" onclick=\"history.pushState({{}}, '', '/shop/checkout')\">Next</button>\
             </body></html>"
        ),
    );
    let ga = GaServer::start().await;
    let secrets = tempfile::tempdir().expect("dir");
    std::fs::write(secrets.path().join("ga.secret"), API_SECRET).expect("secret");
    let recorder = Recorder::start().await;
    let proxy = Proxy::start(&config_text(
        upstream.addr,
        "",
        &format!(
            "ga = {{ measurement_id = \"{MEASUREMENT_ID}\", endpoint = \"{}\", api_secret_file = \"{}\" }}",
            ga.endpoint(),
            secrets.path().join("ga.secret").display()
        ),
    ))
    .await;
    let browser = Browser::start_with(&Options {
        hosts: &[SITE_A],
        recorder: Some(recorder.port),
        accept_language: Some("en-GB,en"),
        user_agent: Some(CHROME),
    })
    .await;
    browser
        .client
        .goto(&proxy.url(SITE_A, "/shop"))
        .await
        .expect("page loads");
    browser
        .until("window.ConsentProxy && window.ConsentProxy.track")
        .await;
    // The visitor accepts everything in the banner.
    browser
        .until("!!document.querySelector('[data-cp-root]') && !document.querySelector('[data-cp-root]').shadowRoot.querySelector('[data-cp-banner]').hidden")
        .await;
    let host = browser
        .client
        .find(Locator::Css("[data-cp-root]"))
        .await
        .expect("banner");
    host.shadow_root()
        .await
        .expect("shadow root")
        .find(Locator::Css(
            "[data-cp-banner] [data-cp-action=\"accept-all\"]",
        ))
        .await
        .expect("accept")
        .click()
        .await
        .expect("click");
    browser.until("window.ConsentProxy.state.decided").await;
    ga.until("the page view after the choice", |events| {
        events.iter().any(|e| e["name"] == "page_view")
    })
    .await;
    // The page's own gtag() call and a single-page navigation.
    browser
        .client
        .find(Locator::Id("buy"))
        .await
        .expect("buy")
        .click()
        .await
        .expect("click");
    browser
        .client
        .find(Locator::Id("next"))
        .await
        .expect("next")
        .click()
        .await
        .expect("click");
    ga.until("the purchase click and the checkout page view", |events| {
        events.iter().any(|e| {
            e["name"] == "purchase_click"
                && e["params"]["plan"] == "pro"
                && e["params"]["value"].as_f64() == Some(12.0)
        }) && events.iter().any(|e| {
            e["name"] == "page_view"
                && e["params"]["page_location"]
                    .as_str()
                    .is_some_and(|l| l.ends_with("/shop/checkout"))
        })
    })
    .await;
    assert!(ga.problems().is_empty(), "{:?}", ga.problems());
    let google: Vec<String> = recorder
        .seen()
        .into_iter()
        .filter(|s| s.contains("googletagmanager") || s.contains("google-analytics"))
        .collect();
    assert!(
        google.is_empty(),
        "Google was contacted from the browser: {google:?}"
    );
    let received = ga.received();
    assert!(
        received
            .iter()
            .all(|r| !r.raw.contains("Chrome/156.0.0.0") && !r.raw.contains("X11")),
        "no raw user agent"
    );
    browser.close().await;
}
