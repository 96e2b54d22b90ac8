//! `POST /_cp/consent` through the real proxy: the choice is validated, recorded in the
//! real SQLite file before the answer, and answered with the signed cookie; the records
//! are exported and looked up on the admin listener with its token. Strangers' input gets
//! a 4xx and stores nothing.

mod support;

use consent_proxy::store::{ConsentQuery, Store, StoredConsent};
use serde_json::{Value, json};
use support::{Proxy, SITE_A, Upstream, config_text, set_cookies};

const ORIGIN: &str = "http://voipexpress.test";

async fn setup(server_extra: &str, site_extra: &str) -> (Upstream, Proxy) {
    let upstream = Upstream::start().await;
    upstream.page("/", &[("content-type", "text/plain")], "ok");
    let proxy = Proxy::start(&config_text(upstream.addr, server_extra, site_extra)).await;
    (upstream, proxy)
}

fn origin(proxy: &Proxy) -> String {
    format!("{ORIGIN}:{}", proxy.http().port())
}

/// A POST as the banner sends it: same origin, JSON.
fn post(proxy: &Proxy, body: &Value) -> reqwest::RequestBuilder {
    post_as(proxy, &origin(proxy), "application/json").body(body.to_string())
}

/// A same-origin POST from `origin` with `content_type` and no body yet.
fn post_as(proxy: &Proxy, origin: &str, content_type: &str) -> reqwest::RequestBuilder {
    proxy
        .client()
        .post(proxy.url(SITE_A, "/_cp/consent"))
        .header("origin", origin)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", content_type)
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        )
}

async fn records(proxy: &Proxy) -> Vec<StoredConsent> {
    let store = Store::open("sqlite://consent-proxy.db", &proxy.dir.path().join("data"))
        .await
        .expect("store opens");
    store
        .consents(&ConsentQuery::default(), 1000)
        .await
        .expect("query")
}

fn consent_pair(cookies: &[String]) -> String {
    cookies
        .iter()
        .find(|c| c.starts_with("cp_consent="))
        .and_then(|c| c.split(';').next())
        .expect("a cp_consent cookie")
        .to_owned()
}

fn admin_token(proxy: &Proxy) -> String {
    std::fs::read_to_string(proxy.dir.path().join("data/admin.token"))
        .expect("token file")
        .trim()
        .to_owned()
}

/// `GET path` on the admin listener with the admin token.
async fn admin_get(proxy: &Proxy, path: &str) -> reqwest::Response {
    let admin = proxy.handle.admin_addr.expect("admin");
    reqwest::Client::new()
        .get(format!("http://{admin}{path}"))
        .bearer_auth(admin_token(proxy))
        .send()
        .await
        .expect("admin request")
}

#[tokio::test]
async fn accept_all_is_recorded_then_answered_with_a_signed_cookie_that_decides_pages() {
    let (upstream, proxy) = setup("", "").await;
    let resp = post(&proxy, &json!({ "method": "accept-all", "language": "nl" }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let cookies = set_cookies(&resp);
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("cp_consent="))
        .expect("cookie set");
    for attribute in ["Path=/", "SameSite=Lax", "HttpOnly", "Max-Age=15780096"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(
        answer["granted"],
        json!(["necessary", "preferences", "analytics", "marketing"])
    );

    // The record is in the SQLite file, with the truncated address and browser family.
    let stored = records(&proxy).await;
    assert_eq!(stored.len(), 1);
    let r = &stored[0];
    assert_eq!(r.consent_id, answer["id"]);
    assert_eq!(r.site, "voipexpress");
    assert_eq!(r.method, "accept-all");
    assert_eq!(r.ip, "127.0.0.0");
    assert_eq!(r.browser, "firefox");
    assert_eq!(r.language, "nl");
    assert_eq!(r.policy_version, "1");
    assert!(r.refused.is_empty());
    assert!(!r.gpc);
    assert!(
        proxy
            .metrics()
            .await
            .contains("consent_proxy_consents_total{site=\"voipexpress\",method=\"accept-all\"} 1"),
        "consent rates for the dashboard"
    );

    // The cookie now decides: a tracker cookie reaches the upstream.
    let pair = consent_pair(&cookies);
    proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("cookie", format!("{pair}; _ga=GA1.1.1"))
        .send()
        .await
        .expect("page");
    let seen = upstream.last();
    assert_eq!(
        seen.headers["cookie"], "_ga=GA1.1.1",
        "and cp_consent stays ours"
    );

    // The visitor's own record, for the preference centre (pages carry no consent id).
    let record: Value = proxy
        .client()
        .get(proxy.url(SITE_A, "/_cp/consent"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("record")
        .json()
        .await
        .expect("json");
    assert_eq!(record["id"], answer["id"]);
    assert_eq!(record["date"], answer["date"]);
    assert_eq!(record["granted"], answer["granted"]);
    let none = proxy
        .client()
        .get(proxy.url(SITE_A, "/_cp/consent"))
        .send()
        .await
        .expect("no record");
    assert_eq!(none.headers()["cache-control"], "no-store");
    let none: Value = none.json().await.expect("json");
    assert_eq!(
        (&none["decided"], &none["id"]),
        (&json!(false), &Value::Null)
    );
}

#[tokio::test]
async fn withdrawal_keeps_the_consent_id_expires_held_cookies_and_is_exported() {
    let (_upstream, proxy) = setup("", "").await;
    let first = post(&proxy, &json!({ "method": "accept-all" }))
        .send()
        .await
        .expect("post");
    let pair = consent_pair(&set_cookies(&first));
    let id = first.json::<Value>().await.expect("json")["id"].clone();

    let second = post(&proxy, &json!({ "method": "reject-all" }))
        .header("cookie", format!("{pair}; _ga=GA1.1.1; session=1"))
        .send()
        .await
        .expect("post");
    assert_eq!(second.status(), 200);
    let cookies = set_cookies(&second);
    assert!(
        support::expires(&cookies, "_ga", Some("voipexpress.test")),
        "GA's cookie on the registrable domain is expired at once: {cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("session=")),
        "the site's own cookie is left alone: {cookies:?}"
    );
    let answer: Value = second.json().await.expect("json");
    assert_eq!(answer["id"], id, "one visitor, one consent id");
    assert_eq!(answer["granted"], json!(["necessary"]));

    // The admin API: token required, lookup by id, CSV and JSON export.
    let admin = proxy.handle.admin_addr.expect("admin");
    let http = reqwest::Client::new();
    let url = format!("http://{admin}/api/consents/{}", id.as_str().expect("id"));
    assert_eq!(http.get(&url).send().await.expect("get").status(), 401);
    let wrong = http
        .get(&url)
        .bearer_auth("0".repeat(64))
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status(), 401);
    let history: Value = admin_get(
        &proxy,
        &format!("/api/consents/{}", id.as_str().expect("id")),
    )
    .await
    .json()
    .await
    .expect("json");
    let methods: Vec<&str> = history
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["method"].as_str().expect("method"))
        .collect();
    assert_eq!(methods, ["accept-all", "reject-all"]);
    assert_eq!(
        history[1]["refused"],
        json!(["preferences", "analytics", "marketing"])
    );
    assert!(
        history[0]["recorded"]
            .as_str()
            .expect("time")
            .ends_with('Z')
    );

    let csv = admin_get(&proxy, "/api/consents?site=voipexpress&from=2020-01-01").await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.expect("text");
    assert_eq!(text.lines().count(), 3, "header and two records: {text}");
    assert!(text.lines().nth(2).expect("row").contains("\"reject-all\""));
    for empty in [
        "/api/consents?site=regionummer&format=json",
        "/api/consents?from=2100-01-01&format=json",
    ] {
        let found: Value = admin_get(&proxy, empty).await.json().await.expect("json");
        assert_eq!(found, json!([]), "{empty}");
    }
    let bad = admin_get(&proxy, "/api/consents?from=yesterday").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn custom_choice_gpc_secure_cookie_and_lifetime() {
    let (_upstream, proxy) = setup(
        "trusted_proxies = [\"127.0.0.1\"]",
        "consent_lifetime = \"30days\"\ngpc_refuses = [\"preferences\"]",
    )
    .await;
    let https_origin = format!("https://voipexpress.test:{}", proxy.http().port());
    let custom = post_as(&proxy, &https_origin, "application/json")
        .header("x-forwarded-proto", "https")
        .body(json!({ "method": "custom", "granted": ["analytics"] }).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(custom.status(), 200);
    let cookie = consent_pair(&set_cookies(&custom));
    let full = set_cookies(&custom)
        .into_iter()
        .find(|c| c.starts_with("cp_consent="))
        .expect("cookie");
    assert!(full.contains("; Secure"), "HTTPS visitor: {full}");
    assert!(full.contains("Max-Age=2592000"), "{full}");
    assert!(cookie.len() < 100, "compact: {cookie}");
    let answer: Value = custom.json().await.expect("json");
    assert_eq!(answer["granted"], json!(["necessary", "analytics"]));
    assert_eq!(answer["refused"], json!(["preferences", "marketing"]));

    // Global Privacy Control: marketing and what the site adds are refused without a click.
    let gpc = post(&proxy, &json!({ "method": "accept-all" }))
        .header("sec-gpc", "1")
        .send()
        .await
        .expect("post");
    let answer: Value = gpc.json().await.expect("json");
    assert_eq!(answer["granted"], json!(["necessary", "analytics"]));
    assert_eq!(answer["gpc"], true);
    let stored = records(&proxy).await;
    assert_eq!(stored.len(), 2);
    assert!(stored[1].gpc);
    assert_eq!(stored[1].refused, ["preferences", "marketing"]);
}

#[tokio::test]
async fn strangers_input_gets_4xx_stores_nothing_and_leaves_the_proxy_unharmed() {
    let (_upstream, proxy) = setup("", "").await;
    let url = proxy.url(SITE_A, "/_cp/consent");
    let client = proxy.client();
    let valid = json!({ "method": "accept-all" }).to_string();
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let huge = format!(
        "{{\"method\":\"custom\",\"granted\":[{}\"analytics\"]}}",
        "\"analytics\",".repeat(2000)
    );
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "cross-origin",
            client
                .post(&url)
                .header("origin", "https://evil.example")
                .header("content-type", "application/json")
                .body(valid.clone()),
            403,
        ),
        (
            "cross-site fetch",
            client
                .post(&url)
                .header("sec-fetch-site", "cross-site")
                .header("content-type", "application/json")
                .body(valid.clone()),
            403,
        ),
        (
            "no origin at all",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(valid.clone()),
            403,
        ),
        (
            "a form post",
            post_as(&proxy, &origin(&proxy), "application/x-www-form-urlencoded")
                .body("method=accept-all"),
            415,
        ),
        (
            "text/plain",
            post_as(&proxy, &origin(&proxy), "text/plain").body(valid.clone()),
            415,
        ),
        ("huge", post(&proxy, &json!({})).body(huge), 413),
        (
            "deeply nested",
            post(&proxy, &json!({})).body(nested.chars().take(4000).collect::<String>()),
            400,
        ),
        (
            "not json",
            post(&proxy, &json!({})).body("{method: accept"),
            400,
        ),
        (
            "unknown category",
            post(
                &proxy,
                &json!({ "method": "custom", "granted": ["tracking"] }),
            ),
            422,
        ),
        (
            "markup as a category",
            post(
                &proxy,
                &json!({ "method": "custom", "granted": ["<script>"] }),
            ),
            422,
        ),
        (
            "unknown method",
            post(&proxy, &json!({ "method": "accept-some" })),
            400,
        ),
        (
            "unknown field",
            post(&proxy, &json!({ "method": "accept-all", "admin": true })),
            400,
        ),
        (
            "wrong type",
            post(
                &proxy,
                &json!({ "method": "custom", "granted": "analytics" }),
            ),
            400,
        ),
        ("PUT", client.put(&url), 405),
    ];
    for (what, request, status) in cases {
        let resp = request.send().await.expect(what);
        assert_eq!(resp.status().as_u16(), status, "{what}");
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "{what}: no cookie"
        );
    }
    // A chunked body without a length, over the limit once its second chunk arrives.
    let chunk = format!("{:x}\r\n{}\r\n", 2100, " ".repeat(2100));
    let request = format!(
        "POST /_cp/consent HTTP/1.1\r\nHost: {SITE_A}:{}\r\nOrigin: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{chunk}{chunk}0\r\n\r\n",
        proxy.http().port(),
        origin(&proxy)
    );
    let answer = support::raw(proxy.http(), request.as_bytes()).await;
    assert_eq!(support::status_of(&answer), 413, "chunked, too large");
    assert!(records(&proxy).await.is_empty(), "nothing stored");

    // A forged cookie is no decision, and its id is not taken over.
    let forged = "cp_consent=1.AWn_Vqqkmh8WvSnmYqsiQ2YPawnBemv6ino.2V8CWNBL0-SezVYN-MZgZmpPrzghqMqCh2uyVxV7uTA";
    let resp = post(&proxy, &json!({ "method": "reject-all" }))
        .header("cookie", forged)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200, "the proxy is unharmed");
    let answer: Value = resp.json().await.expect("json");
    assert_ne!(answer["id"], "69ff56aaa49a1f16bd29e662ab224366");
    assert_eq!(records(&proxy).await.len(), 1);
}

#[tokio::test]
async fn banner_document_is_served_per_language() {
    let (_upstream, proxy) = setup("", "languages = [\"nl\", \"en\"]").await;
    let client = proxy.client();
    let document = |lang: &'static str| {
        let request = client.get(proxy.url(SITE_A, &format!("/_cp/banner.json?lang={lang}")));
        async move {
            let doc: Value = request
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            doc
        }
    };
    let en = document("en").await;
    assert_eq!(en["lang"], "en");
    assert_eq!(en["text"]["rejectAll"], "Reject all");
    let fallback = document("de").await;
    assert_eq!(fallback["lang"], "nl", "German is not offered: the default");
    assert_eq!(fallback["text"]["rejectAll"], "Alles weigeren");
    // Compressed once at load, served in the visitor's best coding.
    for (accept, coding) in [("gzip", "gzip"), ("br, gzip", "br")] {
        for path in [
            "/_cp/banner.json?lang=nl",
            "/_cp/banner.js",
            "/_cp/banner.css",
        ] {
            let resp = client
                .get(proxy.url(SITE_A, path))
                .header("accept-encoding", accept)
                .send()
                .await
                .expect("get");
            assert_eq!(resp.headers()["content-encoding"], coding, "{path}");
            assert_eq!(resp.headers()["vary"], "Accept-Encoding", "{path}");
        }
    }
    let post = client
        .post(proxy.url(SITE_A, "/_cp/banner.json"))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 405);
}

/// Without `?lang`, the browser's `Accept-Language` chooses among the site's languages, as
/// it does for the banner the loader starts.
#[tokio::test]
async fn banner_document_without_lang_follows_accept_language() {
    let (_upstream, proxy) = setup("", "languages = [\"nl\", \"en\"]").await;
    let client = proxy.client();
    for (accept, lang) in [
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.5", "en"),
        ("fr-BE", "nl"),
        ("nl-BE,nl;q=0.9,en;q=0.8", "nl"),
    ] {
        let resp = client
            .get(proxy.url(SITE_A, "/_cp/banner.json"))
            .header("accept-language", accept)
            .send()
            .await
            .expect("get");
        let vary = resp.headers()["vary"].to_str().expect("vary").to_owned();
        assert!(vary.contains("Accept-Language"), "{vary}");
        let doc: Value = resp.json().await.expect("json");
        assert_eq!(doc["lang"], lang, "Accept-Language: {accept}");
    }
}

#[tokio::test]
async fn a_configured_key_file_signs_the_cookies_and_none_is_created() {
    use consent_proxy::consent::cookie::{ConsentCookie, CookieKey};
    let keys = tempfile::tempdir().expect("dir");
    let key_path = keys.path().join("shared.key");
    std::fs::write(&key_path, [7u8; 32]).expect("key");
    let (_upstream, proxy) =
        setup(&format!("secret_key_file = \"{}\"", key_path.display()), "").await;
    let resp = post(&proxy, &json!({ "method": "reject-all" }))
        .send()
        .await
        .expect("post");
    let pair = consent_pair(&set_cookies(&resp));
    let value = pair.strip_prefix("cp_consent=").expect("value");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let shared = CookieKey::from_bytes(&[7u8; 32]);
    assert!(ConsentCookie::verify(value, &shared, "voipexpress", "1", now).is_some());
    assert!(
        ConsentCookie::verify(
            value,
            &CookieKey::from_bytes(&[8u8; 32]),
            "voipexpress",
            "1",
            now
        )
        .is_none()
    );
    assert!(!proxy.dir.path().join("data/secret.key").exists());
}

#[tokio::test]
async fn no_cookie_for_a_choice_the_store_could_not_keep() {
    let (_upstream, proxy) = setup("", "").await;
    // Break the store under the running proxy: its inserts now fail.
    let db = proxy.dir.path().join("data/consent-proxy.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the proxy's database");
    sqlx::query("DROP TABLE consent_records")
        .execute(&pool)
        .await
        .expect("drop");
    pool.close().await;
    let resp = post(&proxy, &json!({ "method": "accept-all" }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 503);
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "no proof, no cookie"
    );
}

#[tokio::test]
async fn replayed_choices_are_limited_per_address() {
    let (_upstream, proxy) = setup("[server.limits]\nconsents_per_minute = 3", "").await;
    let mut statuses = Vec::new();
    // Seven posts within a second span at most two minute windows: at most six pass.
    for _ in 0..7 {
        let resp = post(&proxy, &json!({ "method": "accept-all" }))
            .send()
            .await
            .expect("post");
        if resp.status() == 429 {
            assert_eq!(resp.headers()["retry-after"], "60");
            assert!(resp.headers().get("set-cookie").is_none());
        }
        statuses.push(resp.status().as_u16());
    }
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        records(&proxy).await.len(),
        accepted,
        "only accepted ones stored"
    );
}

/// One address cannot use up the budget of its whole network: its neighbours behind the
/// same carrier-grade NAT (same /24) still get their choice recorded, up to the network's
/// higher ceiling.
#[tokio::test]
async fn one_address_cannot_use_up_its_networks_budget() {
    let (_upstream, proxy) = setup(
        "trusted_proxies = [\"127.0.0.1\"]\n[server.limits]\nconsents_per_minute = 2\nconsents_per_minute_network = 5",
        "",
    )
    .await;
    let from = |address: &'static str| {
        post(&proxy, &json!({ "method": "reject-all" })).header("x-forwarded-for", address)
    };
    let mut noisy = Vec::new();
    for _ in 0..4 {
        noisy.push(
            from("198.51.100.7")
                .send()
                .await
                .expect("post")
                .status()
                .as_u16(),
        );
    }
    // At most two per address in a minute (two windows if the minute turns: four).
    assert!(
        noisy.contains(&429),
        "the noisy address is limited: {noisy:?}"
    );
    let neighbour = from("198.51.100.8").send().await.expect("post");
    assert_eq!(
        neighbour.status(),
        200,
        "a neighbour in the same /24 is not"
    );
    // The network's ceiling still holds for many addresses together.
    let mut many = Vec::new();
    for i in 10..20 {
        let address = format!("198.51.100.{i}");
        let resp = post(&proxy, &json!({ "method": "reject-all" }))
            .header("x-forwarded-for", address)
            .send()
            .await
            .expect("post");
        many.push(resp.status().as_u16());
    }
    assert!(many.contains(&429), "the /24 has a ceiling: {many:?}");
}
