//! What a choice becomes: a record in the store before the answer, a signed cookie that
//! decides the next pages, a withdrawal that expires what was held, an export for proof.

use serde_json::{Value, json};

use crate::support::{SITE_A, set_cookies};
use crate::{admin_get, consent_pair, post, post_as, records, setup};

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
    let record = proxy.consent_record(&pair).await;
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
        crate::support::expires(&cookies, "_ga", Some("voipexpress.test")),
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
