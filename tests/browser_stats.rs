//! End to end in real headless Chromium: a known set of visits through the proxy — on a
//! Dutch site (cookieless statistics for everyone) and a Belgian one (statistics only
//! with consent); visitors who accept, reject or do not decide; a headless bot — gives
//! exactly those numbers through the stats API.

mod support;

use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::{Browser, Options};
use support::{Proxy, Upstream};

const NL: &str = "voipexpress.test";
const BE: &str = "zonenummer.test";

fn page(title: &str, link: &str) -> String {
    format!(
        "<!doctype html><html lang=\"nl\"><head><title>{title}</title></head>\
         <body><main><h1>{title}</h1><a id=\"next\" href=\"{link}\">verder</a></main></body></html>"
    )
}

/// What a visitor does with the banner.
#[derive(Clone, Copy)]
enum Choice {
    Accept,
    Reject,
    Undecided,
}

/// One visitor in a browser of their own: opens `/` on `host`, chooses, and then follows
/// the link to `/prijzen` when `second_page`.
async fn visit(
    proxy: &Proxy,
    host: &str,
    user_agent: Option<&str>,
    choice: Choice,
    second_page: bool,
) {
    let browser = Browser::start_with(&Options {
        hosts: &[NL, BE],
        recorder: None,
        accept_language: Some("nl-NL,nl"),
        user_agent,
    })
    .await;
    browser
        .client
        .goto(&proxy.url(host, "/"))
        .await
        .expect("page loads");
    browser
        .until("!!document.querySelector('[data-cp-root]') && !document.querySelector('[data-cp-root]').shadowRoot.querySelector('[data-cp-banner]').hidden")
        .await;
    let action = match choice {
        Choice::Accept => Some("accept-all"),
        Choice::Reject => Some("reject-all"),
        Choice::Undecided => None,
    };
    if let Some(action) = action {
        browser
            .client
            .find(Locator::Css("[data-cp-root]"))
            .await
            .expect("banner")
            .shadow_root()
            .await
            .expect("shadow root")
            .find(Locator::Css(&format!(
                "[data-cp-banner] [data-cp-action=\"{action}\"]"
            )))
            .await
            .expect("button")
            .click()
            .await
            .expect("click");
        browser.until("window.ConsentProxy.state.decided").await;
    }
    if second_page {
        browser
            .client
            .find(Locator::Id("next"))
            .await
            .expect("link")
            .click()
            .await
            .expect("click");
        browser.arrived("location.pathname === '/prijzen'").await;
    }
    // Leaving sends what is still queued (the beacon flushes on pagehide).
    browser.client.goto("about:blank").await.expect("leave");
    browser.close().await;
}

async fn query(proxy: &Proxy, body: Value) -> Value {
    let admin = proxy.handle.admin_addr.expect("admin");
    let token = std::fs::read_to_string(proxy.dir.path().join("data/admin.token")).expect("token");
    let resp = reqwest::Client::new()
        .post(format!("http://{admin}/api/v2/query"))
        .bearer_auth(token.trim())
        .json(&body)
        .send()
        .await
        .expect("query");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

fn ua(version: u32) -> String {
    format!(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version}.0.0.0 Safari/537.36"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_in_chromium_give_exactly_those_numbers_through_the_api() {
    let upstream = Upstream::start().await;
    for path in ["/", "/prijzen"] {
        upstream.page(
            path,
            &[("content-type", "text/html; charset=utf-8")],
            page("Nummers", "/prijzen"),
        );
    }
    let proxy = Proxy::start(&format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"
data_dir = "data"

[[site]]
name = "voipexpress"
hosts = ["{NL}"]
upstream = "http://{up}"
jurisdiction = "nl"

[[site]]
name = "zonenummer"
hosts = ["{BE}"]
upstream = "http://{up}"
jurisdiction = "be"
"#,
        up = upstream.addr
    ))
    .await;

    // The Dutch site: accepts (1 page), rejects (2 pages), undecided (1 page), a bot.
    visit(&proxy, NL, Some(&ua(150)), Choice::Accept, false).await;
    visit(&proxy, NL, Some(&ua(151)), Choice::Reject, true).await;
    visit(&proxy, NL, Some(&ua(152)), Choice::Undecided, false).await;
    visit(&proxy, NL, None, Choice::Accept, false).await;
    // The Belgian site: only the visitor who accepts is counted (2 pages).
    visit(&proxy, BE, Some(&ua(153)), Choice::Accept, true).await;
    visit(&proxy, BE, Some(&ua(154)), Choice::Reject, true).await;
    visit(&proxy, BE, Some(&ua(155)), Choice::Undecided, false).await;

    let traffic = |site: &str| json!({ "site_id": site, "metrics": ["visitors", "visits", "pageviews", "bounce_rate"], "date_range": "day" });
    let nl = query(&proxy, traffic(NL)).await;
    assert_eq!(nl["results"][0]["metrics"], json!([3, 3, 4, 67]), "{nl}");
    let be = query(&proxy, traffic(BE)).await;
    assert_eq!(be["results"][0]["metrics"], json!([1, 1, 2, 0]), "{be}");
    let pages = query(
        &proxy,
        json!({ "site_id": NL, "metrics": ["visitors", "pageviews"], "date_range": "day", "dimensions": ["event:page"] }),
    )
    .await;
    assert_eq!(
        pages["results"],
        json!([
            { "dimensions": ["/"], "metrics": [3, 3] },
            { "dimensions": ["/prijzen"], "metrics": [1, 1] },
        ]),
        "{pages}"
    );

    // The consent funnel is written every five seconds and at shutdown; a restart on
    // the same data directory reads it back.
    let dir = proxy.dir;
    proxy.handle.shutdown().await;
    let config =
        consent_proxy::config::Config::load(dir.path().join("proxy.toml")).expect("config");
    let again = Proxy {
        handle: consent_proxy::server::start(config).await.expect("restart"),
        dir,
    };
    let consent = |site: &str| json!({ "site_id": site, "metrics": ["consent_banner_impressions", "consent_accept_all", "consent_reject_all", "consent_accept_rate"], "date_range": "day" });
    // Banner impressions of people (the bot's is not counted), choices of everyone who
    // made one (the bot's click was a choice too: consent is recorded for anyone).
    let nl = query(&again, consent(NL)).await;
    assert_eq!(nl["results"][0]["metrics"], json!([3, 2, 1, 66.7]), "{nl}");
    let be = query(&again, consent(BE)).await;
    assert_eq!(be["results"][0]["metrics"], json!([3, 1, 1, 50.0]), "{be}");
}
