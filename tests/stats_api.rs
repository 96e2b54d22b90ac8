//! The stats API (`POST /api/v2/query`, Plausible's Stats API v2 shape) on the admin
//! listener of the real proxy: known traffic sent through `/_cp/collect` and
//! `/_cp/consent` gives exactly those numbers; tokens are checked; strangers' strings
//! come back as JSON data.

mod support;

use consent_proxy::config::Config;
use consent_proxy::server;
use consent_proxy::store::Store;
use serde_json::{Value, json};
use support::{Proxy, SITE_A, SITE_B, Upstream, config_text};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const BOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

fn origin(proxy: &Proxy, host: &str) -> String {
    format!("http://{host}:{}", proxy.http().port())
}

/// Events as the beacon posts them, from a browser with `ua`.
async fn collect(proxy: &Proxy, host: &str, ua: &str, events: Value) {
    let resp = proxy
        .client()
        .post(proxy.url(host, "/_cp/collect"))
        .header("origin", origin(proxy, host))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", ua)
        .header("accept-language", "nl-NL,nl;q=0.9")
        .body(json!({ "events": events }).to_string())
        .send()
        .await
        .expect("collect");
    assert!(resp.status().is_success(), "{}", resp.status());
}

fn view(host: &str, path: &str, referrer: &str) -> Value {
    json!({ "name": "page_view", "url": format!("http://{host}{path}"), "referrer": referrer })
}

async fn choose(proxy: &Proxy, method: &str) {
    let resp = proxy
        .client()
        .post(proxy.url(SITE_A, "/_cp/consent"))
        .header("origin", origin(proxy, SITE_A))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/json")
        .header("user-agent", FIREFOX)
        .body(json!({ "method": method, "language": "nl" }).to_string())
        .send()
        .await
        .expect("consent");
    assert_eq!(resp.status(), 200);
}

fn admin_token(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("data/admin.token"))
        .expect("token file")
        .trim()
        .to_owned()
}

/// `POST /api/v2/query` with `token`; the status and the JSON answer.
async fn query(admin: std::net::SocketAddr, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{admin}/api/v2/query"))
        .json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("query");
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    (status, resp.json().await.expect("json"))
}

/// The rows of an answer as (dimensions, metrics).
fn rows(answer: &Value) -> Vec<(Vec<String>, Vec<Value>)> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["dimensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .collect(),
                r["metrics"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

/// The known traffic of these tests, on site A unless said otherwise:
/// - Chrome: `/` from Google, then `/prijzen` (one visit, two views, no bounce);
/// - Firefox: `/` with no referrer (a bounce);
/// - iPhone: `/contact?utm_source=nieuwsbrief`, then the goal `signup`;
/// - a Googlebot view (never counted);
/// - on site B, one Chrome view of `/`.
async fn known_traffic(proxy: &Proxy) {
    collect(
        proxy,
        SITE_A,
        CHROME,
        json!([view(SITE_A, "/", "https://www.google.com/")]),
    )
    .await;
    collect(
        proxy,
        SITE_A,
        CHROME,
        json!([view(SITE_A, "/prijzen", &format!("http://{SITE_A}/"))]),
    )
    .await;
    collect(proxy, SITE_A, FIREFOX, json!([view(SITE_A, "/", "")])).await;
    collect(
        proxy,
        SITE_A,
        IPHONE,
        json!([view(SITE_A, "/contact?utm_source=nieuwsbrief", ""),
               { "name": "signup", "url": format!("http://{SITE_A}/contact") }]),
    )
    .await;
    collect(proxy, SITE_A, BOT, json!([view(SITE_A, "/", "")])).await;
    collect(proxy, SITE_B, CHROME, json!([view(SITE_B, "/", "")])).await;
}

#[tokio::test]
async fn known_traffic_gives_exactly_those_numbers() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    known_traffic(&proxy).await;
    let admin = proxy.handle.admin_addr.expect("admin");
    let token = admin_token(proxy.dir.path());
    let ask = |body: Value| {
        let token = token.clone();
        async move { query(admin, Some(&token), &body).await }
    };

    let (status, top) = ask(json!({
        "site_id": SITE_A,
        "metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "events"],
        "date_range": "day",
    }))
    .await;
    assert_eq!(status, 200, "{top}");
    assert_eq!(
        rows(&top),
        vec![(
            vec![],
            vec![
                json!(3),
                json!(3),
                json!(4),
                json!(1.33),
                json!(33),
                json!(5)
            ]
        )],
        "{top}"
    );
    assert_eq!(top["query"]["site_id"], SITE_A);

    let (_, pages) = ask(json!({
        "site_id": "voipexpress",
        "metrics": ["visitors", "pageviews"],
        "date_range": "7d",
        "dimensions": ["event:page"],
        "include": { "total_rows": true },
    }))
    .await;
    assert_eq!(
        rows(&pages),
        vec![
            (vec!["/".into()], vec![json!(2), json!(2)]),
            (vec!["/contact".into()], vec![json!(1), json!(1)]),
            (vec!["/prijzen".into()], vec![json!(1), json!(1)]),
        ],
        "{pages}"
    );
    assert_eq!(pages["meta"]["total_rows"], 3);

    let (_, sources) = ask(json!({
        "site_id": SITE_A,
        "metrics": ["visitors", "percentage"],
        "date_range": "day",
        "dimensions": ["visit:source"],
    }))
    .await;
    assert_eq!(
        rows(&sources),
        vec![
            (vec!["Direct / None".into()], vec![json!(1), json!(33.3)]),
            (vec!["nieuwsbrief".into()], vec![json!(1), json!(33.3)]),
            (vec!["www.google.com".into()], vec![json!(1), json!(33.3)]),
        ]
    );

    let (_, goals) = ask(json!({
        "site_id": SITE_A,
        "metrics": ["visitors", "events", "conversion_rate"],
        "date_range": "day",
        "dimensions": ["event:goal"],
    }))
    .await;
    assert_eq!(
        rows(&goals),
        vec![(
            vec!["signup".into()],
            vec![json!(1), json!(1), json!(33.33)]
        )]
    );

    // A filter combines with a breakdown: mobile visitors' pages.
    let (_, mobile) = ask(json!({
        "site_id": SITE_A,
        "metrics": ["visitors"],
        "date_range": "day",
        "dimensions": ["event:page"],
        "filters": [["is", "visit:device", ["mobile"]]],
    }))
    .await;
    assert_eq!(
        rows(&mobile),
        vec![(vec!["/contact".into()], vec![json!(1)])]
    );
    let (_, entry) = ask(json!({
        "site_id": SITE_A,
        "metrics": ["visits", "bounce_rate"],
        "date_range": "day",
        "dimensions": ["visit:entry_page", "visit:browser"],
        "filters": [["is_not", "visit:source", ["Direct / None"]]],
        "order_by": [["visit:entry_page", "asc"]],
    }))
    .await;
    assert_eq!(
        rows(&entry),
        vec![
            (vec!["/".into(), "Chrome".into()], vec![json!(1), json!(0)]),
            (
                vec!["/contact".into(), "Safari".into()],
                vec![json!(1), json!(0)]
            ),
        ],
        "{entry}"
    );

    // Site B by its host: its own single visitor.
    let (_, b) =
        ask(json!({ "site_id": SITE_B, "metrics": ["visitors"], "date_range": "day" })).await;
    assert_eq!(rows(&b), vec![(vec![], vec![json!(1)])]);

    // Realtime (Plausible's v1 endpoint): the three visitors of the last five minutes.
    let realtime: Value = reqwest::Client::new()
        .get(format!(
            "http://{admin}/api/v1/stats/realtime/visitors?site_id={SITE_A}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("realtime")
        .json()
        .await
        .expect("number");
    assert_eq!(realtime, json!(3));

    // The time series: today's row, and a label for every day of the range.
    let (_, series) = ask(json!({
        "site_id": SITE_A,
        "metrics": ["visitors", "pageviews"],
        "date_range": "7d",
        "dimensions": ["time:day"],
        "include": { "time_labels": true },
    }))
    .await;
    let labels = series["meta"]["time_labels"].as_array().expect("labels");
    assert_eq!(labels.len(), 7);
    assert_eq!(
        rows(&series),
        vec![(
            vec![labels[6].as_str().unwrap().to_owned()],
            vec![json!(3), json!(4)]
        )]
    );
}

#[tokio::test]
async fn consent_rates_and_proof_of_enforcement_come_with_the_traffic() {
    let upstream = Upstream::start().await;
    upstream.page(
        "/tracked",
        &[("content-type", "text/html")],
        "<html><head><script src=\"https://www.googletagmanager.com/gtag/js?id=G-1\"></script>\
         <script src=\"https://connect.facebook.net/en_US/fbevents.js\"></script></head>\
         <body><img src=\"https://www.facebook.com/tr?id=1\"></body></html>",
    );
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    for _ in 0..4 {
        collect(
            &proxy,
            SITE_A,
            CHROME,
            json!([{ "name": "cp_banner", "url": format!("http://{SITE_A}/") }]),
        )
        .await;
    }
    choose(&proxy, "accept-all").await;
    choose(&proxy, "reject-all").await;
    choose(&proxy, "reject-all").await;
    let page = proxy
        .client()
        .get(proxy.url(SITE_A, "/tracked"))
        .header("cookie", "_ga=GA1.1.1.1; _fbp=fb.1.1.1")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("body");
    assert!(
        !body.contains("<script src=\"https://connect.facebook.net"),
        "neutralised"
    );

    // Counts are written every five seconds and at shutdown: stop, start again on the
    // same data directory, and ask.
    let dir = proxy.dir;
    proxy.handle.shutdown().await;
    let config = Config::load(dir.path().join("proxy.toml")).expect("config");
    let again = server::start(config).await.expect("restart");
    let admin = again.admin_addr.expect("admin");
    let token = admin_token(dir.path());
    let (status, consent) = query(
        admin,
        Some(&token),
        &json!({
            "site_id": SITE_A,
            "metrics": ["consent_banner_impressions", "consent_decisions", "consent_accept_rate",
                        "consent_reject_rate", "consent_grant_rate_analytics", "consent_gpc_share"],
            "date_range": "day",
        }),
    )
    .await;
    assert_eq!(status, 200, "{consent}");
    assert_eq!(
        rows(&consent),
        vec![(
            vec![],
            vec![
                json!(4),
                json!(3),
                json!(33.3),
                json!(66.7),
                json!(33.3),
                json!(0.0)
            ]
        )]
    );
    let (status, proof) = query(
        admin,
        Some(&token),
        &json!({
            "site_id": SITE_A,
            "metrics": ["enforcement_scripts", "enforcement_pixels", "enforcement_cookies_stripped"],
            "date_range": "7d",
            "dimensions": ["enforcement:category"],
            "order_by": [["enforcement:category", "asc"]],
        }),
    )
    .await;
    assert_eq!(status, 200, "{proof}");
    assert_eq!(
        rows(&proof),
        vec![
            (vec!["analytics".into()], vec![json!(1), json!(0), json!(1)]),
            (vec!["marketing".into()], vec![json!(1), json!(1), json!(1)]),
        ],
        "{proof}"
    );
    again.shutdown().await;
}

#[tokio::test]
async fn tokens_are_checked_and_scoped_to_sites() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    known_traffic(&proxy).await;
    let admin = proxy.handle.admin_addr.expect("admin");
    let body =
        |site: &str| json!({ "site_id": site, "metrics": ["visitors"], "date_range": "day" });
    let (status, answer) = query(admin, None, &body(SITE_A)).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("token"));
    let (status, _) = query(admin, Some("not-a-token"), &body(SITE_A)).await;
    assert_eq!(status, 401);
    // A token scoped to site B (stored as `consent-proxy token add` stores it).
    let store = Store::open("sqlite://consent-proxy.db", &proxy.dir.path().join("data"))
        .await
        .expect("store");
    store
        .add_token("t1", "cp_scoped_secret", &["regionummer".into()], "", 0)
        .await
        .expect("token");
    let (status, answer) = query(admin, Some("cp_scoped_secret"), &body(SITE_B)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(rows(&answer), vec![(vec![], vec![json!(1)])]);
    let (status, answer) = query(admin, Some("cp_scoped_secret"), &body(SITE_A)).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.get("results").is_none());
    // All sites, for a scoped token, are its own sites only.
    let (status, answer) = query(admin, Some("cp_scoped_secret"), &body("*")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(rows(&answer), vec![(vec![], vec![json!(1)])]);
    // Unknown sites look the same to a scoped token; the admin token is told.
    let (status, _) = query(admin, Some("cp_scoped_secret"), &body("nosuch.test")).await;
    assert_eq!(status, 403);
    let (status, _) = query(
        admin,
        Some(&admin_token(proxy.dir.path())),
        &body("nosuch.test"),
    )
    .await;
    assert_eq!(status, 400);
    // The consent-record export stays with the admin token.
    let resp = reqwest::Client::new()
        .get(format!("http://{admin}/api/consents"))
        .bearer_auth("cp_scoped_secret")
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status(), 401);
    store.remove_token("t1").await.expect("revoke");
    let (status, _) = query(admin, Some("cp_scoped_secret"), &body(SITE_B)).await;
    assert_eq!(status, 401, "a revoked token reads nothing");
}

#[tokio::test]
async fn strangers_strings_come_back_as_data_and_bad_queries_as_clear_errors() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let evil_path = "/%3Cscript%3Ealert(1)%3C/script%3E\"onmouseover=x";
    collect(
        &proxy,
        SITE_A,
        CHROME,
        json!([view(
            SITE_A,
            &format!("{evil_path}?utm_campaign=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
            ""
        )]),
    )
    .await;
    let admin = proxy.handle.admin_addr.expect("admin");
    let token = admin_token(proxy.dir.path());
    let (_, pages) = query(
        admin,
        Some(&token),
        &json!({ "site_id": SITE_A, "metrics": ["visitors"], "date_range": "day", "dimensions": ["event:page"] }),
    )
    .await;
    let stored_path = rows(&pages)[0].0[0].clone();
    assert!(stored_path.contains("script"), "{stored_path}");
    let (_, campaigns) = query(
        admin,
        Some(&token),
        &json!({ "site_id": SITE_A, "metrics": ["visitors"], "date_range": "day", "dimensions": ["visit:utm_campaign"] }),
    )
    .await;
    assert_eq!(
        rows(&campaigns)[0].0[0],
        "<img src=x onerror=alert(1)>",
        "data, as sent"
    );

    for (body, says) in [
        (
            json!({ "site_id": SITE_A, "metrics": ["nonsense"], "date_range": "day" }),
            "unknown metric `nonsense`",
        ),
        (
            json!({ "site_id": SITE_A, "metrics": ["visitors"], "date_range": "fortnight" }),
            "unknown date_range",
        ),
        (
            json!({ "site_id": SITE_A, "metrics": ["visitors"], "date_range": "day", "dimensions": ["visit:shoe_size"] }),
            "unknown dimension",
        ),
        (
            json!({ "site_id": SITE_A, "metrics": ["visitors"], "date_range": "day", "filters": [["matches", "event:page", ["^/"]]] }),
            "filter operator",
        ),
        (
            json!({ "site_id": SITE_A, "metrics": ["conversion_rate"], "date_range": "day" }),
            "event:goal",
        ),
        (
            json!({ "site_id": SITE_A, "metrics": ["consent_accept_rate"], "date_range": "day", "dimensions": ["event:page"] }),
            "time only",
        ),
        (
            json!({ "site_id": SITE_A, "metrics": ["visitors"] }),
            "date_range",
        ),
        (
            json!({ "site_id": SITE_A, "metrics": ["visitors"], "date_range": "day", "shoe": 1 }),
            "shoe",
        ),
    ] {
        let (status, answer) = query(admin, Some(&token), &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(says),
            "{body} → {answer}"
        );
    }
}

#[tokio::test]
async fn closed_days_are_answered_from_rollups_and_compared_with_the_period_before() {
    use consent_proxy::store::rollup::DAY_MS;
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    let store = Store::open("sqlite://consent-proxy.db", &proxy.dir.path().join("data"))
        .await
        .expect("store");
    let today = consent_proxy::clock::unix_now_ms().div_euclid(DAY_MS);
    // 40 days of generated traffic ending yesterday, rolled up as the job does.
    let written = consent_proxy::stats::seed::seed(
        &store,
        &consent_proxy::stats::seed::Plan {
            site: "voipexpress".into(),
            host: SITE_A.into(),
            events: 8_000,
            days: 40,
            until_day: today,
            seed: 3,
        },
    )
    .await
    .expect("seed");
    assert!(written >= 8_000);
    let rolled = consent_proxy::stats::rollup::catch_up(
        &store,
        "voipexpress",
        consent_proxy::clock::unix_now_ms(),
    )
    .await
    .expect("rollup");
    assert_eq!(rolled, 40);
    let admin = proxy.handle.admin_addr.expect("admin");
    let token = admin_token(proxy.dir.path());
    let (status, answer) = query(
        admin,
        Some(&token),
        &json!({
            "site_id": SITE_A,
            "metrics": ["pageviews", "visitors", "bounce_rate"],
            "date_range": "7d",
            "include": { "comparisons": { "mode": "previous_period" } },
        }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0];
    // The same numbers from the raw events: the rollups change nothing.
    let range = consent_proxy::stats::period::Range {
        from: today - 6,
        to: today + 1,
    };
    let raw = |r: consent_proxy::stats::period::Range| {
        let store = store.clone();
        async move {
            let events = store
                .raw_events("voipexpress", r.from_ms(), r.to_ms())
                .await
                .expect("raw");
            let visits = consent_proxy::stats::visits::visits(&events);
            let counts = consent_proxy::stats::visits::group(&visits, &[], &Default::default());
            counts.values().next().copied().unwrap_or_default()
        }
    };
    let now = raw(range).await;
    let before = raw(range.previous()).await;
    assert!(now.pageviews > 0 && before.pageviews > 0);
    assert_eq!(result["metrics"][0], json!(now.pageviews));
    assert_eq!(result["metrics"][1], json!(now.visitors));
    assert_eq!(result["comparison"]["metrics"][0], json!(before.pageviews));
    let change = ((now.pageviews - before.pageviews) as f64 * 100.0 / before.pageviews as f64)
        .round() as i64;
    assert_eq!(result["comparison"]["change"][0], json!(change));
}
