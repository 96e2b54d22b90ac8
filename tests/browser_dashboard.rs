//! The dashboard as a marketer meets it, in headless Chromium: log in, see exactly the
//! numbers of a known set of visits in the overview, the breakdowns and the consent panel,
//! apply a filter, change the range, export a CSV and compare it with the API; screenshots
//! at 1280 and 320 px are kept in `target/test-artifacts/`; axe-core finds no serious
//! violation; the page never contacts another host.

mod support;

use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::{Browser, Options};
use support::recorder::Recorder;
use support::{Proxy, SITE_A, SITE_B, Upstream, config_text};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

async fn collect(proxy: &Proxy, ua: &str, events: Value) {
    let resp = proxy
        .client()
        .post(proxy.url(SITE_A, "/_cp/collect"))
        .header("origin", format!("http://{SITE_A}:{}", proxy.http().port()))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "text/plain")
        .header("user-agent", ua)
        .header("accept-language", "nl")
        .body(json!({ "events": events }).to_string())
        .send()
        .await
        .expect("collect");
    assert_eq!(resp.status(), 204);
}

async fn choose(proxy: &Proxy, method: &str) {
    let resp = proxy
        .client()
        .post(proxy.url(SITE_A, "/_cp/consent"))
        .header("origin", format!("http://{SITE_A}:{}", proxy.http().port()))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/json")
        .header("user-agent", FIREFOX)
        .body(json!({ "method": method, "language": "nl" }).to_string())
        .send()
        .await
        .expect("consent");
    assert_eq!(resp.status(), 200);
}

fn view(path: &str, referrer: &str) -> Value {
    json!({ "name": "page_view", "url": format!("http://{SITE_A}{path}"), "referrer": referrer })
}

async fn text(browser: &Browser, css: &str) -> String {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// Rows of a breakdown table as (value, metrics).
async fn table(browser: &Browser, id: &str) -> Value {
    browser
        .eval(&format!(
            "[...document.querySelectorAll('[data-table=\"{id}\"] tbody tr')].map(tr => [...tr.children].map(c => c.textContent.trim()))"
        ))
        .await
}

fn artifact(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketer_logs_in_and_sees_exactly_the_visits_made() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    // Known visits on site A: Chrome from Google (2 pages), Firefox direct (1), iPhone
    // from a newsletter (1 page and the goal `signup`); one on site B. Three choices.
    collect(
        &proxy,
        CHROME,
        json!([view("/", "https://www.google.com/")]),
    )
    .await;
    collect(&proxy, CHROME, json!([view("/prijzen", "")])).await;
    collect(&proxy, FIREFOX, json!([view("/", "")])).await;
    collect(
        &proxy,
        IPHONE,
        json!([view("/contact?utm_source=nieuwsbrief", ""), { "name": "signup", "url": format!("http://{SITE_A}/contact") }]),
    )
    .await;
    let other = proxy.client();
    other
        .post(proxy.url(SITE_B, "/_cp/collect"))
        .header("origin", format!("http://{SITE_B}:{}", proxy.http().port()))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "text/plain")
        .header("user-agent", CHROME)
        .header("accept-language", "nl")
        .body(
            json!({ "events": [{ "name": "page_view", "url": format!("http://{SITE_B}/") }] })
                .to_string(),
        )
        .send()
        .await
        .expect("collect B");
    choose(&proxy, "accept-all").await;
    choose(&proxy, "reject-all").await;
    choose(&proxy, "reject-all").await;
    // The funnel is written at shutdown (and every five seconds): restart, then look.
    let dir = proxy.dir;
    proxy.handle.shutdown().await;
    let config =
        consent_proxy::config::Config::load(dir.path().join("proxy.toml")).expect("config");
    let proxy = Proxy {
        handle: consent_proxy::server::start(config).await.expect("restart"),
        dir,
    };
    let store = consent_proxy::store::Store::open(
        "sqlite://consent-proxy.db",
        &proxy.dir.path().join("data"),
    )
    .await
    .expect("store");
    store
        .put_user(
            "marketing",
            &consent_proxy::dashboard::session::hash_password("a long passphrase").unwrap(),
            &[("voipexpress".into(), "owner".into())],
            0,
        )
        .await
        .expect("user");
    let admin = proxy.handle.admin_addr.expect("admin");

    let recorder = Recorder::start().await;
    let browser = Browser::start_with(&Options {
        hosts: &[SITE_A, "stats.test"],
        recorder: Some(recorder.port),
        accept_language: Some("en-GB,en"),
        user_agent: None,
    })
    .await;
    browser
        .client
        .set_window_size(1280, 1000)
        .await
        .expect("size");
    // The admin listener by a name (every other name and address goes to the recorder).
    let dashboard = format!("http://stats.test:{}", admin.port());
    browser
        .client
        .goto(&format!("{dashboard}/dashboard"))
        .await
        .expect("dashboard");
    browser
        .until("location.pathname === '/dashboard/login'")
        .await;
    browser
        .client
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("marketing")
        .await
        .unwrap();
    browser
        .client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a long passphrase")
        .await
        .unwrap();
    browser
        .client
        .find(Locator::Css("form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.arrived("location.pathname === '/dashboard' && !!document.querySelector('[data-metric=\"visitors\"]')").await;

    // The overview: 3 visitors, 3 visits, 4 page views, a third bounced.
    assert_eq!(
        text(&browser, "[data-metric=\"visitors\"] .value").await,
        "3"
    );
    assert_eq!(text(&browser, "[data-metric=\"visits\"] .value").await, "3");
    assert_eq!(
        text(&browser, "[data-metric=\"pageviews\"] .value").await,
        "4"
    );
    assert_eq!(
        text(&browser, "[data-metric=\"bounce_rate\"] .value").await,
        "33"
    );
    assert_eq!(
        table(&browser, "pages").await,
        json!([
            ["/", "2", "2"],
            ["/contact", "1", "1"],
            ["/prijzen", "1", "1"]
        ])
    );
    assert_eq!(
        table(&browser, "sources").await,
        json!([
            ["Direct / None", "1", "100"],
            ["nieuwsbrief", "1", "0"],
            ["www.google.com", "1", "0"]
        ])
    );
    assert_eq!(
        table(&browser, "goals").await,
        json!([["signup", "1", "1", "33.33"]])
    );
    assert_eq!(
        text(&browser, "[data-metric=\"consent_decisions\"] dd").await,
        "3"
    );
    assert_eq!(
        text(&browser, "[data-metric=\"consent_accept_rate\"] dd").await,
        "33.3"
    );
    assert_eq!(
        text(&browser, "[data-metric=\"consent_reject_rate\"] dd").await,
        "66.7"
    );
    assert_eq!(
        browser
            .eval("document.querySelector('[data-realtime]').dataset.realtime")
            .await,
        "3"
    );
    browser
        .client
        .screenshot()
        .await
        .map(|png| std::fs::write(artifact("dashboard-1280.png"), png))
        .expect("shot")
        .expect("write");

    // Accessibility: axe-core with every rule on; nothing serious or critical.
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/axe/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core (scripts/test.sh installs it with npm)");
    let scan = "const done = arguments[arguments.length - 1];
        if (!window.axe) { window.eval(arguments[0]); }
        const rules = {};
        window.axe.getRules().forEach(r => rules[r.ruleId] = { enabled: true });
        window.axe.run(document, { rules, resultTypes: ['violations'] })
          .then(r => done(r.violations.map(v => [v.id, v.impact, v.nodes.map(n => n.target.join(' ')).join(', ')])), e => done([['axe failed', 'critical', String(e)]]));";
    let violations = browser
        .client
        .execute_async(scan, vec![Value::String(axe.clone())])
        .await
        .expect("axe");
    let serious: Vec<&Value> = violations
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v[1].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "axe at 1280 px: {violations:#}");

    // A filter: the device "mobile" (a link in the devices table).
    browser
        .client
        .find(Locator::XPath(
            "//section[@data-table='devices']//a[text()='mobile']",
        ))
        .await
        .expect("mobile link")
        .click()
        .await
        .expect("click");
    browser
        .arrived("location.search.includes('f=visit%3Adevice%3Amobile')")
        .await;
    assert_eq!(
        text(&browser, "[data-metric=\"visitors\"] .value").await,
        "1"
    );
    assert_eq!(
        table(&browser, "pages").await,
        json!([["/contact", "1", "1"]])
    );

    // CSV of the filtered pages equals the API's answer to the same query.
    let cookie = browser
        .client
        .get_named_cookie("cp_dash")
        .await
        .expect("session cookie")
        .value()
        .to_owned();
    let csv = reqwest::Client::new()
        .get(format!("http://{admin}/dashboard/export.csv?site=voipexpress&range=30d&f=visit%3Adevice%3Amobile&table=pages"))
        .header("cookie", format!("cp_dash={cookie}"))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    let token = std::fs::read_to_string(proxy.dir.path().join("data/admin.token")).expect("token");
    let api: Value = reqwest::Client::new()
        .post(format!("http://{admin}/api/v2/query"))
        .bearer_auth(token.trim())
        .json(&json!({ "site_id": "voipexpress", "metrics": ["visitors", "pageviews"], "date_range": "30d",
                       "dimensions": ["event:page"], "filters": [["is", "visit:device", ["mobile"]]] }))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let mut expected = String::from("\"event:page\",\"visitors\",\"pageviews\"\r\n");
    for row in api["results"].as_array().unwrap() {
        expected.push_str(&format!(
            "\"{}\",\"{}\",\"{}\"\r\n",
            row["dimensions"][0].as_str().unwrap(),
            row["metrics"][0],
            row["metrics"][1]
        ));
    }
    assert_eq!(csv, expected);
    assert!(csv.contains("/contact"));

    // Another range: yesterday had no visits.
    browser
        .client
        .find(Locator::Css("select#range option[value='yesterday']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client
        .find(Locator::Css("form.range button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .arrived("location.search.includes('range=yesterday')")
        .await;
    assert_eq!(
        text(&browser, "[data-metric=\"visitors\"] .value").await,
        "0"
    );

    // A phone: 320 px wide, nothing wider than the screen, and still no serious violation.
    browser
        .cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 320, "height": 800, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
    browser
        .client
        .goto(&format!("{dashboard}/dashboard?site=voipexpress&range=30d"))
        .await
        .expect("overview");
    browser
        .until("!!document.querySelector('[data-metric=\"visitors\"]')")
        .await;
    assert_eq!(
        browser
            .eval("document.documentElement.scrollWidth <= 320")
            .await,
        true
    );
    browser
        .client
        .screenshot()
        .await
        .map(|png| std::fs::write(artifact("dashboard-320.png"), png))
        .expect("shot")
        .expect("write");
    let violations = browser
        .client
        .execute_async(scan, vec![Value::String(axe)])
        .await
        .expect("axe");
    let serious: Vec<&Value> = violations
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v[1].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "axe at 320 px: {violations:#}");
    // The page fetched nothing from another host (Chromium's own background traffic,
    // which the recorder also sees, is not the page's).
    let foreign = browser
        .eval(&format!(
            "performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('{dashboard}/'))"
        ))
        .await;
    assert_eq!(foreign, json!([]), "resources from another host");
    assert_eq!(
        browser
            .eval("performance.getEntriesByType('resource').length > 0")
            .await,
        true,
        "the style sheet is a resource of the page"
    );
    let page_hosts: Vec<String> = recorder
        .seen()
        .into_iter()
        .filter(|s| s.contains("stats.test") || s.contains(SITE_A))
        .collect();
    assert!(page_hosts.is_empty(), "{page_hosts:?}");
    browser.close().await;
}
