//! In real Chromium: what the server neutralised is inert (no request, no execution), and
//! granting a category on the page re-activates its elements in document order, without
//! a reload.

mod support;

use support::browser::Browser;
use support::{Proxy, SITE_A, Upstream, config_text};

const TRACKER: &str = "tracker.test";
const EMBED: &str = "embed.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_category_reactivates_scripts_in_order_and_placeholders_load_embeds() {
    let upstream = Upstream::start().await;
    // The "third parties": served by the same recording fixture, reached by name.
    let r = upstream.addr.port();
    upstream.page(
        "/a.js",
        &[("content-type", "text/javascript")],
        "(window.cpLog = window.cpLog || []).push('external');",
    );
    upstream.page(
        "/b.js",
        &[("content-type", "text/javascript")],
        "window.cpLog.push('external-2');",
    );
    upstream.page(
        "/embed.html",
        &[("content-type", "text/html")],
        "<p id=\"embedded\">video</p>",
    );
    upstream.page(
        "/page",
        &[("content-type", "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html lang=\"nl\"><head><title>t</title>\
             <script src=\"http://{TRACKER}:{r}/a.js\"></script>\
             <script>/*cp-test-tracker*/ window.cpLog.push('inline');</script>\
             <script src=\"http://{TRACKER}:{r}/b.js\"></script>\
             </head><body><h1>Welkom</h1>\
             <iframe id=\"video\" width=\"560\" height=\"315\" src=\"http://{EMBED}:{r}/embed.html\"></iframe>\
             </body></html>"
        ),
    );
    let site_trackers = format!(
        "[[site.trackers]]\nname = \"Test analytics\"\ncategory = \"analytics\"\n\
         hosts = [\"{TRACKER}\"]\ninline = [\"cp-test-tracker\"]\n\n\
         [[site.trackers]]\nname = \"Test video\"\ncategory = \"marketing\"\nhosts = [\"{EMBED}\"]\n"
    );
    let proxy = Proxy::start(&config_text(upstream.addr, "", &site_trackers)).await;
    let browser = Browser::start(&[SITE_A, TRACKER, EMBED]).await;

    browser
        .client
        .goto(&proxy.url(SITE_A, "/page"))
        .await
        .expect("page loads");
    browser.until("window.ConsentProxy").await;
    // Nothing of the refused categories ran or was even requested.
    assert_eq!(browser.eval("window.cpLog === undefined").await, true);
    // Requests that reached the fixture under a third party's name (the site's own
    // requests, such as /favicon.ico, come through the proxy with the site's host).
    let third_party = |u: &Upstream| {
        u.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| {
                r.headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .is_some_and(|h| h.starts_with(TRACKER) || h.starts_with(EMBED))
            })
            .count()
    };
    assert_eq!(
        third_party(&upstream),
        0,
        "no request to a tracker before consent"
    );
    assert_eq!(
        browser
            .eval("document.getElementById('video').hasAttribute('srcdoc')")
            .await,
        true
    );

    // Granting analytics runs the scripts, external and inline, in document order.
    browser
        .eval("window.ConsentProxy.grant(['analytics']) || true")
        .await;
    let log = browser
        .until("window.cpLog && window.cpLog.length === 3 && window.cpLog")
        .await;
    assert_eq!(log, serde_json::json!(["external", "inline", "external-2"]));
    assert_eq!(third_party(&upstream), 2, "a.js and b.js, nothing else");

    // The embed's placeholder button grants marketing and loads the video.
    browser
        .until(
            "!!document.getElementById('video').contentDocument.querySelector('[data-cp-wired]')",
        )
        .await;
    browser
        .eval("document.getElementById('video').contentDocument.querySelector('[data-cp-allow]').click() || true")
        .await;
    // The frame now shows the embed itself (cross-origin: its document is no longer ours).
    browser
        .until("document.getElementById('video').getAttribute('src') && document.getElementById('video').contentDocument === null")
        .await;
    assert_eq!(third_party(&upstream), 3, "a.js, b.js and the embed");
    assert!(
        upstream
            .seen
            .lock()
            .expect("lock")
            .iter()
            .any(|r| r.uri.path() == "/embed.html"),
        "the embed was requested after the click"
    );
    browser.close().await;
}
