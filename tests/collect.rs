//! `POST /_cp/collect` through the real proxy, with the real SQLite file and a local GA4
//! Measurement Protocol server that validates as Google's does: what is stored, what is
//! forwarded, and what a stranger's garbage gets.

mod support;

use consent_proxy::consent::Category;
use serde_json::{Value, json};
use support::ga::{API_SECRET, GaServer, MEASUREMENT_ID};
use support::{Proxy, SITE_A, SITE_B, Upstream, config_text, consent_cookie, set_cookies};

pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Site A forwarding to `ga`; `statistics` as given (empty: the jurisdiction's default).
fn ga_site(ga: &GaServer, secrets: &std::path::Path, extra: &str) -> String {
    let secret = secrets.join("ga.secret");
    std::fs::write(&secret, API_SECRET).expect("secret");
    format!(
        "{extra}\nga = {{ measurement_id = \"{MEASUREMENT_ID}\", endpoint = \"{}\", api_secret_file = \"{}\" }}\n",
        ga.endpoint(),
        secret.display()
    )
}

struct World {
    _upstream: Upstream,
    _secrets: tempfile::TempDir,
    ga: GaServer,
    proxy: Proxy,
}

async fn world(server_extra: &str, site_extra: &str) -> World {
    let upstream = Upstream::start().await;
    let ga = GaServer::start().await;
    let secrets = tempfile::tempdir().expect("dir");
    let proxy = Proxy::start(&config_text(
        upstream.addr,
        server_extra,
        &ga_site(&ga, secrets.path(), site_extra),
    ))
    .await;
    World {
        _upstream: upstream,
        _secrets: secrets,
        ga,
        proxy,
    }
}

impl World {
    fn origin(&self, host: &str) -> String {
        format!("http://{host}:{}", self.proxy.http().port())
    }

    /// A beacon's POST from a browser on `host`, with `cookie`.
    fn post(&self, host: &str, body: &Value, cookie: Option<&str>) -> reqwest::RequestBuilder {
        self.post_with(host, body, cookie, &[])
    }

    /// The same with some of the browser's headers replaced (an empty value removes one).
    fn post_with(
        &self,
        host: &str,
        body: &Value,
        cookie: Option<&str>,
        replace: &[(&'static str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut headers = http::HeaderMap::new();
        let origin = self.origin(host);
        let defaults: [(&'static str, &str); 5] = [
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
            ("content-type", "text/plain;charset=UTF-8"),
            ("user-agent", CHROME),
            ("accept-language", "nl-NL,nl;q=0.9"),
        ];
        for (name, value) in defaults.iter().chain(replace) {
            if value.is_empty() {
                headers.remove(*name);
            } else {
                headers.insert(*name, value.parse().expect("header value"));
            }
        }
        if let Some(cookie) = cookie {
            headers.insert("cookie", cookie.parse().expect("cookie"));
        }
        self.proxy
            .client()
            .post(self.proxy.url(host, "/_cp/collect"))
            .headers(headers)
            .body(body.to_string())
    }

    async fn stored(&self) -> Vec<Value> {
        let db = self.proxy.dir.path().join("data/consent-proxy.db");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .expect("open db");
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT json_object('site', site, 'name', name, 'path', path, 'query', query,
                'referrer', referrer, 'utm_source', utm_source, 'device', device)
             FROM events ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("events");
        rows.iter()
            .map(|r| serde_json::from_str(r).expect("json"))
            .collect()
    }
}

fn page_view(host: &str, path: &str) -> Value {
    json!({ "events": [{ "name": "page_view", "url": format!("http://{host}{path}"),
        "referrer": "https://www.google.com/search?q=jan%40example.nl", "title": "Home" }] })
}

#[tokio::test]
async fn a_dutch_site_counts_everyone_cookieless_but_ga_only_gets_consenting_visitors() {
    let w = world("", "").await;
    // Undecided: stored (Dutch exemption), not forwarded, no cookie set.
    let resp = w
        .post(
            SITE_A,
            &page_view(
                SITE_A,
                "/prijzen?email=jan%40example.nl&utm_source=nieuwsbrief#x",
            ),
            None,
        )
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 204);
    assert!(set_cookies(&resp).is_empty(), "no cookie without consent");
    // Refused analytics: the same.
    let refused = consent_cookie(&w.proxy, &[Category::Marketing], "1");
    let resp = w
        .post(SITE_A, &page_view(SITE_A, "/"), Some(&refused))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 204);
    assert!(set_cookies(&resp).is_empty());
    // Granted analytics: stored and forwarded, with GA's first-party cookies.
    let granted = consent_cookie(&w.proxy, &[Category::Analytics], "1");
    let resp = w
        .post(SITE_A, &page_view(SITE_A, "/contact"), Some(&granted))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 204);
    let cookies = set_cookies(&resp);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("cp_cid=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("cp_sid=")),
        "{cookies:?}"
    );

    let stored = w.stored().await;
    assert_eq!(stored.len(), 3, "{stored:#?}");
    assert_eq!(stored[0]["path"], "/prijzen");
    assert_eq!(
        stored[0]["query"], "utm_source=nieuwsbrief",
        "no e-mail, no fragment"
    );
    assert_eq!(stored[0]["utm_source"], "nieuwsbrief");
    assert_eq!(
        stored[0]["referrer"], "www.google.com",
        "the referrer's host only"
    );
    assert_eq!(stored[0]["device"], "desktop");

    w.ga.until("one page view", |events| !events.is_empty())
        .await;
    let received = w.ga.received();
    assert_eq!(
        received.len(),
        1,
        "only the consenting visitor's: {received:#?}"
    );
    let body = &received[0].body;
    let event = &body["events"][0];
    assert_eq!(event["name"], "page_view");
    assert!(
        event["params"]["page_location"]
            .as_str()
            .unwrap()
            .ends_with("/contact")
    );
    assert_eq!(event["params"]["page_referrer"], "https://www.google.com/");
    assert_eq!(body["device"]["browser"], "Chrome");
    assert_eq!(body["device"]["browser_version"], "131");
    assert_eq!(
        body["consent"]["ad_user_data"], "DENIED",
        "marketing was not granted"
    );
    assert!(body.get("ip_override").is_none() && body.get("user_agent").is_none());
    assert!(!received[0].raw.contains("Mozilla") && !received[0].raw.contains("127.0.0.1:"));
    assert!(w.ga.problems().is_empty(), "{:?}", w.ga.problems());
}

#[tokio::test]
async fn a_belgian_site_counts_only_with_consent() {
    // Belgium's preset (`jurisdiction = "be"`) is `statistics = "with-consent"`.
    let w = world("", "statistics = \"with-consent\"").await;
    let resp = w
        .post(SITE_A, &page_view(SITE_A, "/"), None)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 204);
    assert!(w.stored().await.is_empty(), "nothing without consent");
    let granted = consent_cookie(&w.proxy, &[Category::Analytics], "1");
    w.post(SITE_A, &page_view(SITE_A, "/"), Some(&granted))
        .send()
        .await
        .expect("post");
    assert_eq!(w.stored().await.len(), 1);
}

#[tokio::test]
async fn strangers_garbage_gets_a_reason_and_nothing_is_stored() {
    let w = world(
        "[collect]\nrequests_per_minute = 40\nrequests_per_minute_network = 40",
        "",
    )
    .await;
    let ok = page_view(SITE_A, "/");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            w.post_with(SITE_A, &ok, None, &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]),
            403,
            "cross-origin",
        ),
        (
            w.post_with(SITE_A, &ok, None, &[("content-type", "application/x-www-form-urlencoded")]),
            415,
            "a form",
        ),
        (
            w.post(SITE_A, &ok, None).body("x".repeat(17 * 1024)),
            413,
            "over 16 KB",
        ),
        (w.post(SITE_A, &ok, None).body("{not json"), 400, "not JSON"),
        (
            w.post(SITE_A, &json!({ "events": [{ "name": "page_view", "url": "http://voipexpress.test/", "extra": 1 }] }), None),
            400,
            "unknown field",
        ),
        (
            w.post(SITE_A, &json!({ "events": [{ "name": "first_visit", "url": "http://voipexpress.test/" }] }), None),
            422,
            "reserved name",
        ),
        (
            w.post(SITE_A, &json!({ "events": [{ "name": "x", "url": "http://voipexpress.test/", "params": { "p": "y".repeat(101) } }] }), None),
            422,
            "long value",
        ),
        (
            w.post(SITE_A, &json!({ "events": (0..26).map(|_| json!({ "name": "x", "url": "http://voipexpress.test/" })).collect::<Vec<_>>() }), None),
            422,
            "26 events",
        ),
        (
            w.post(SITE_A, &page_view(SITE_B, "/"), None),
            422,
            "another site's page",
        ),
        (
            w.proxy.client().get(w.proxy.url(SITE_A, "/_cp/collect")),
            405,
            "GET",
        ),
    ];
    for (req, status, what) in cases {
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), status, "{what}");
        if status != 405 {
            let body: Value = resp.json().await.expect("a JSON reason");
            assert!(
                body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{what}"
            );
        }
    }
    assert!(w.stored().await.is_empty(), "nothing stored");
    let metrics = w.proxy.metrics().await;
    assert!(
        metrics.contains("consent_proxy_events_refused_total{reason=\"rules\"}"),
        "{metrics}"
    );
    // Past the rate limit: 429 with Retry-After.
    let mut limited = false;
    for _ in 0..60 {
        let resp = w.post(SITE_A, &ok, None).send().await.expect("post");
        if resp.status() == 429 {
            assert_eq!(resp.headers()["retry-after"], "60");
            limited = true;
            break;
        }
    }
    assert!(limited, "rate limited");
}

#[tokio::test]
async fn bots_are_counted_not_stored() {
    let w = world("", "").await;
    for ua in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
        "curl/8.5.0",
    ] {
        let resp = w
            .post_with(SITE_A, &page_view(SITE_A, "/"), None, &[("user-agent", ua)])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 202, "{ua}");
    }
    // A browser without Accept-Language is not a person's either.
    let resp = w
        .post_with(
            SITE_A,
            &page_view(SITE_A, "/"),
            None,
            &[("accept-language", "")],
        )
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 202);
    assert!(w.stored().await.is_empty());
    assert!(
        w.proxy
            .metrics()
            .await
            .contains("consent_proxy_events_bots_total{site=\"voipexpress\"} 4")
    );
}

#[tokio::test]
async fn withdrawal_deletes_what_is_still_queued_and_stops_forwarding() {
    let w = world("", "").await;
    // GA is down: events stay in the durable queue.
    w.ga.stop().await;
    let granted = consent_cookie(&w.proxy, &[Category::Analytics], "1");
    for path in ["/a", "/b", "/c"] {
        let resp = w
            .post(SITE_A, &page_view(SITE_A, path), Some(&granted))
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 204);
    }
    let db = w.proxy.dir.path().join("data/consent-proxy.db");
    let depth = || async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .expect("db");
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM ga_queue")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(depth().await, 3, "on disk before the answers");
    // The visitor withdraws analytics (same consent id): the queue forgets them at once.
    let resp = w
        .proxy
        .client()
        .post(w.proxy.url(SITE_A, "/_cp/consent"))
        .header("origin", w.origin(SITE_A))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/json")
        .header("cookie", format!("{granted}; cp_cid=12345.1700000000"))
        .body(json!({ "method": "reject-all" }).to_string())
        .send()
        .await
        .expect("withdraw");
    assert_eq!(resp.status(), 200);
    assert_eq!(depth().await, 0, "withdrawal stops forwarding at once");
    let withdrawn = set_cookies(&resp);
    assert!(
        support::expires_any(&withdrawn, "cp_cid"),
        "GA's client id is expired with the consent: {withdrawn:?}"
    );
    // New events of the visitor who refused are not queued.
    let refused = withdrawn
        .iter()
        .find(|c| c.starts_with("cp_consent="))
        .and_then(|c| c.split(';').next())
        .expect("new consent cookie")
        .to_owned();
    w.post(SITE_A, &page_view(SITE_A, "/d"), Some(&refused))
        .send()
        .await
        .expect("post");
    assert_eq!(depth().await, 0);
}

#[tokio::test]
async fn a_real_mmdb_file_resolves_countries() {
    let db = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/geoip/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb");
    assert!(
        db.exists(),
        "scripts/test.sh installs the CC0 database with npm"
    );
    let w = world(
        &format!(
            "trusted_proxies = [\"127.0.0.1\"]\n\n[geoip]\ndatabase = \"{}\"\n\n[server.limits]",
            db.display()
        ),
        "",
    )
    .await;
    let granted = consent_cookie(&w.proxy, &[Category::Analytics], "1");
    // RIPE NCC's address in Amsterdam.
    let resp = w
        .post_with(
            SITE_A,
            &page_view(SITE_A, "/"),
            Some(&granted),
            &[("x-forwarded-for", "193.0.6.139")],
        )
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 204);
    w.ga.until("a page view", |e| !e.is_empty()).await;
    let body = &w.ga.received()[0].body;
    assert_eq!(body["user_location"]["country_id"], "NL", "{body}");
    assert!(
        !w.ga.received()[0].raw.contains("193.0.6"),
        "no address, not even truncated"
    );
}
