//! The page cache through the real proxy: a page version is rewritten once per consent
//! class and coding, never served to another class, never served after the upstream's
//! page changed, and still counted as proof of enforcement when it comes from the cache.

mod support;

use std::time::Duration;

use consent_proxy::consent::Category;
use support::{Proxy, SITE_A, Upstream, behind_proxy, consent_cookie, counter, date_ago, get_a};

const PAGE: &str = "<!doctype html><html lang=\"nl\"><head><meta charset=\"utf-8\">\
<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-DEMO1\"></script>\
</head><body><h1>Versie 1</h1>\
<iframe src=\"https://www.youtube.com/embed/abc\"></iframe></body></html>";

const HTML: (&str, &str) = ("content-type", "text/html; charset=utf-8");

/// `consent_proxy_page_cache_lookups_total` of site A for one result.
fn lookups(metrics: &str, result: &str) -> u64 {
    counter(
        metrics,
        &format!(
            "consent_proxy_page_cache_lookups_total{{site=\"voipexpress\",result=\"{result}\"}}"
        ),
    )
}

const GTAG_BLOCKED: &str =
    "consent_proxy_neutralised_total{site=\"voipexpress\",category=\"analytics\",kind=\"script\"}";

async fn start(server_extra: &str) -> (Upstream, Proxy, reqwest::Client) {
    let (upstream, proxy, client) = behind_proxy(server_extra).await;
    upstream.page("/", &[HTML], PAGE);
    (upstream, proxy, client)
}

async fn get(
    client: &reqwest::Client,
    proxy: &Proxy,
    path: &str,
    headers: &[(&str, &str)],
) -> String {
    let resp = get_a(client, proxy, path, headers).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("text")
}

/// The `data-cp-state` of the page's loader, unescaped.
fn state(html: &str) -> String {
    let start = html.find("data-cp-state=\"").expect("loader") + "data-cp-state=\"".len();
    let end = start + html[start..].find('"').expect("end");
    html[start..end].replace("&quot;", "\"")
}

#[tokio::test]
async fn each_consent_class_gets_its_own_page_and_repeats_come_from_the_cache() {
    let (_upstream, proxy, client) = start("").await;
    let dutch = [("accept-language", "nl-NL,nl")];
    let first = get(&client, &proxy, "/", &dutch).await;
    let before = proxy.metrics().await;
    assert_eq!((lookups(&before, "miss"), lookups(&before, "hit")), (1, 0));
    let blocked_once = counter(&before, GTAG_BLOCKED);
    assert_eq!(blocked_once, 1);

    // A campaign link is the same page: the query is not part of the key.
    let second = get(&client, &proxy, "/?utm_source=nieuwsbrief", &dutch).await;
    assert_eq!(first, second, "the same class gets the same bytes");
    let after = proxy.metrics().await;
    assert_eq!((lookups(&after, "miss"), lookups(&after, "hit")), (1, 1));
    assert_eq!(
        counter(&after, GTAG_BLOCKED),
        2,
        "a page from the cache is still counted as proof of enforcement"
    );
    assert!(first.contains("data-cp-src=\"https://www.googletagmanager.com/gtag/js"));
    assert!(state(&first).contains("\"decided\":false"), "{first}");
    assert!(state(&first).contains("\"lang\":\"nl\""), "{first}");

    // Another banner language, Global Privacy Control: other classes, other pages.
    let english = get(&client, &proxy, "/", &[("accept-language", "en-GB")]).await;
    assert!(state(&english).contains("\"lang\":\"en\""), "{english}");
    let gpc = get(
        &client,
        &proxy,
        "/",
        &[("accept-language", "nl"), ("sec-gpc", "1")],
    )
    .await;
    assert!(state(&gpc).contains("\"gpc\":true"), "{gpc}");
    assert!(!state(&first).contains("\"gpc\""));

    // Visitors who granted analytics: their gtag runs. Their pages carry no consent id, so
    // the second visitor of the class gets the first one's page from the cache; each one's
    // own record comes from `GET /_cp/consent`.
    let mut pages = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let cookie = consent_cookie(&proxy, &[Category::Analytics], "1");
        let page = get(
            &client,
            &proxy,
            "/",
            &[("accept-language", "nl"), ("cookie", &cookie)],
        )
        .await;
        assert!(
            page.contains(" src=\"https://www.googletagmanager.com/gtag/js"),
            "{page}"
        );
        let state = state(&page);
        assert!(state.contains("\"decided\":true"), "{state}");
        assert!(
            !state.contains("\"id\""),
            "no consent id in a page: {state}"
        );
        pages.push(page);
        let record = proxy.consent_record(&cookie).await;
        assert_eq!(record["decided"], true);
        assert_eq!(
            record["granted"],
            serde_json::json!(["necessary", "analytics"])
        );
        ids.push(record["id"].as_str().expect("an id").to_owned());
    }
    assert_eq!(pages[0], pages[1]);
    assert_ne!(ids[0], ids[1], "each visitor gets their own consent id");
    assert_ne!(
        pages[0], first,
        "a consenting page is not the undecided one"
    );
    let again = get(&client, &proxy, "/", &dutch).await;
    assert_eq!(
        again, first,
        "the undecided page was not replaced by a consenting one"
    );
    let end = proxy.metrics().await;
    // Hits: the campaign link, the second consenting visitor, the undecided page again.
    assert_eq!((lookups(&end, "miss"), lookups(&end, "hit")), (4, 3));
}

#[tokio::test]
async fn a_changed_upstream_page_is_never_served_from_the_cache() {
    let (upstream, proxy, client) = start("").await;
    let v1 = get(&client, &proxy, "/", &[]).await;
    assert!(v1.contains("Versie 1"));
    assert_eq!(get(&client, &proxy, "/", &[]).await, v1);

    // Same length, same headers, one byte different.
    upstream.page("/", &[HTML], PAGE.replace("Versie 1", "Versie 2"));
    let v2 = get(&client, &proxy, "/", &[]).await;
    assert!(v2.contains("Versie 2") && !v2.contains("Versie 1"), "{v2}");
    // Shorter and longer than the kept version, and equal to its start: new versions too.
    let cut = &PAGE[..PAGE.len() - "</body></html>".len()];
    upstream.page("/", &[HTML], cut);
    let shorter = get(&client, &proxy, "/", &[]).await;
    assert!(
        shorter.contains("Versie 1") && !shorter.contains("</body>"),
        "{shorter}"
    );
    upstream.page("/", &[HTML], format!("{PAGE}<!-- v3 -->"));
    let longer = get(&client, &proxy, "/", &[]).await;
    assert!(longer.ends_with("<!-- v3 -->"), "{longer}");
    // And back: version 1's page again, kept anew.
    upstream.page("/", &[HTML], PAGE);
    assert_eq!(get(&client, &proxy, "/", &[]).await, v1);
    assert_eq!(get(&client, &proxy, "/", &[]).await, v1);
    let metrics = proxy.metrics().await;
    assert_eq!(
        (lookups(&metrics, "miss"), lookups(&metrics, "hit")),
        (5, 2)
    );
}

#[tokio::test]
async fn each_coding_is_its_own_entry() {
    let (_upstream, proxy, client) = start("").await;
    let plain = get(&client, &proxy, "/", &[]).await;
    for _ in 0..2 {
        let resp = get_a(&client, &proxy, "/", &[("accept-encoding", "gzip")]).await;
        assert_eq!(gunzipped(resp).await, plain);
    }
    let again = client
        .get(proxy.url(SITE_A, "/"))
        .send()
        .await
        .expect("request");
    assert!(again.headers().get("content-encoding").is_none());
    assert_eq!(again.text().await.expect("text"), plain);
    let metrics = proxy.metrics().await;
    assert_eq!(
        (lookups(&metrics, "miss"), lookups(&metrics, "hit")),
        (2, 2)
    );
}

#[tokio::test]
async fn large_pages_and_nonced_pages_stream_and_are_never_kept() {
    let (upstream, proxy, client) =
        start("[server.limits]\npage_cache_bytes = 1048576\npage_cache_page_bytes = 8192").await;
    let big = PAGE.replace("<h1>", &format!("<p>{}</p><h1>", "x".repeat(20_000)));
    upstream.page("/big", &[HTML], big.as_str());
    for _ in 0..2 {
        let page = get(&client, &proxy, "/big", &[]).await;
        assert!(page.contains("data-cp-src=\"https://www.googletagmanager.com/gtag/js"));
        assert!(page.len() > 20_000);
    }
    // Small as the upstream sends it, large once decoded: streamed as well.
    let gz = support::gzip(big.as_bytes());
    assert!(gz.len() < 8192);
    upstream.page("/inflated", &[HTML, ("content-encoding", "gzip")], gz);
    for _ in 0..2 {
        let page = get(&client, &proxy, "/inflated", &[]).await;
        assert_eq!(page, get(&client, &proxy, "/big", &[]).await);
    }
    // A page whose policy carries a nonce is new in every response.
    upstream.page(
        "/nonce",
        &[
            HTML,
            ("content-security-policy", "script-src 'nonce-r4nd0m'"),
        ],
        PAGE,
    );
    for _ in 0..2 {
        let page = get(&client, &proxy, "/nonce", &[]).await;
        assert!(page.contains("nonce=\"r4nd0m\""), "{page}");
    }
    let metrics = proxy.metrics().await;
    assert_eq!(lookups(&metrics, "bypass"), 8);
    assert_eq!(
        (lookups(&metrics, "hit"), lookups(&metrics, "miss")),
        (0, 0)
    );
}

#[tokio::test]
async fn a_cache_of_zero_bytes_is_off() {
    let (_upstream, proxy, client) = start("[server.limits]\npage_cache_bytes = 0").await;
    let first = get(&client, &proxy, "/", &[]).await;
    assert_eq!(get(&client, &proxy, "/", &[]).await, first);
    let metrics = proxy.metrics().await;
    assert!(!metrics.contains("page_cache_lookups_total{"), "{metrics}");
    assert_eq!(counter(&metrics, GTAG_BLOCKED), 2);
}

#[tokio::test]
async fn an_unchanged_page_with_a_strong_etag_costs_the_upstream_a_304() {
    let (upstream, proxy, client) = start("").await;
    upstream.page("/", &[HTML, ("etag", "\"v1\""), ("x-version", "1")], PAGE);
    let first = client
        .get(proxy.url(SITE_A, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(first.headers()["x-version"], "1");
    let first = first.text().await.expect("text");
    assert_eq!(
        upstream.last_if_none_match(),
        None,
        "nothing kept yet: the page is read whole"
    );
    assert!(first.contains("data-cp-src=\"https://www.googletagmanager.com/gtag/js"));

    // The version is kept: the upstream is asked about it and answers 304, with a field
    // that changed (RFC 9111 §4.3.4: the stored head takes the 304's fields).
    upstream.page("/", &[HTML, ("etag", "\"v1\""), ("x-version", "2")], PAGE);
    let second = client
        .get(proxy.url(SITE_A, "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(second.status(), 200);
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("\"v1\""));
    assert_eq!(upstream.not_modified_count(), 1);
    assert_eq!(second.headers()["x-version"], "2");
    assert_eq!(second.headers()["etag"], "W/\"v1\"");
    assert_eq!(second.text().await.expect("text"), first);

    // Another consent class is rewritten from the kept body, never from another class's
    // page; proof of enforcement is counted for each.
    let cookie = consent_cookie(&proxy, &[Category::Analytics], "1");
    let granted = get(&client, &proxy, "/", &[("cookie", &cookie)]).await;
    assert_eq!(upstream.not_modified_count(), 2);
    assert!(granted.contains(" src=\"https://www.googletagmanager.com/gtag/js"));
    assert!(state(&granted).contains("\"decided\":true"), "{granted}");
    assert_eq!(get(&client, &proxy, "/", &[]).await, first);
    assert_eq!(upstream.not_modified_count(), 3);
    let metrics = proxy.metrics().await;
    assert_eq!(
        (lookups(&metrics, "miss"), lookups(&metrics, "hit")),
        (2, 2)
    );
    assert_eq!(counter(&metrics, GTAG_BLOCKED), 3);
}

#[tokio::test]
async fn a_page_with_a_new_etag_is_read_again_and_kept_as_the_new_version() {
    let (upstream, proxy, client) = start("").await;
    upstream.page("/", &[HTML, ("etag", "\"v1\"")], PAGE);
    let v1 = get(&client, &proxy, "/", &[]).await;
    assert_eq!(get(&client, &proxy, "/", &[]).await, v1);
    assert_eq!(upstream.not_modified_count(), 1);

    upstream.page(
        "/",
        &[HTML, ("etag", "\"v2\"")],
        PAGE.replace("Versie 1", "Versie 2"),
    );
    let v2 = get(&client, &proxy, "/", &[]).await;
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("\"v1\""));
    assert_eq!(
        upstream.not_modified_count(),
        1,
        "the upstream sent the new page"
    );
    assert!(v2.contains("Versie 2") && !v2.contains("Versie 1"), "{v2}");
    assert_eq!(get(&client, &proxy, "/", &[]).await, v2);
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("\"v2\""));
    assert_eq!(upstream.not_modified_count(), 2);

    // Each coding the proxy asks the upstream for is its own version.
    let resp = client
        .get(proxy.url(SITE_A, "/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(upstream.last_if_none_match(), None);
}

#[tokio::test]
async fn a_page_without_an_etag_is_revalidated_by_a_date_old_enough_to_be_strong() {
    let (upstream, proxy, client) = start("").await;
    let hour_ago = date_ago(Duration::from_secs(3600));
    upstream.page("/", &[HTML, ("last-modified", &hour_ago)], PAGE);
    let v1 = get(&client, &proxy, "/", &[]).await;
    assert_eq!(upstream.last_if_modified_since(), None, "nothing kept yet");
    assert_eq!(get(&client, &proxy, "/", &[]).await, v1);
    assert_eq!(upstream.last_if_modified_since().as_ref(), Some(&hour_ago));
    assert_eq!(upstream.last_if_none_match(), None);
    assert_eq!(upstream.not_modified_count(), 1);

    // Changed since: the upstream's new page is served and becomes the version asked about.
    let minutes_ago = date_ago(Duration::from_secs(600));
    let changed = PAGE.replace("Versie 1", "Versie 2");
    upstream.page("/", &[HTML, ("last-modified", &minutes_ago)], changed);
    let v2 = get(&client, &proxy, "/", &[]).await;
    assert_eq!(upstream.last_if_modified_since().as_ref(), Some(&hour_ago));
    assert!(v2.contains("Versie 2") && !v2.contains("Versie 1"), "{v2}");
    assert_eq!(get(&client, &proxy, "/", &[]).await, v2);
    assert_eq!(upstream.last_if_modified_since(), Some(minutes_ago));
    assert_eq!(upstream.not_modified_count(), 2);

    // A date within a minute of the upstream's own `Date` could be shared by a second
    // change in the same second (RFC 9110 §8.8.2.2); a weak `ETag` says the bytes may
    // differ whatever the date. Neither is ever asked about.
    let just_now = date_ago(Duration::ZERO);
    upstream.page("/fresh", &[HTML, ("last-modified", &just_now)], PAGE);
    upstream.page(
        "/weak",
        &[HTML, ("last-modified", &hour_ago), ("etag", "W/\"v1\"")],
        PAGE,
    );
    for path in ["/fresh", "/weak", "/fresh", "/weak"] {
        get(&client, &proxy, path, &[]).await;
        assert_eq!(upstream.last_if_modified_since(), None, "{path}");
        assert_eq!(upstream.last_if_none_match(), None, "{path}");
    }
    assert_eq!(upstream.not_modified_count(), 2);
}

/// A site proxied with `revalidate_with`, its upstream serving `/dated` (a date an hour
/// old, no `ETag`) and `/tagged` (both).
async fn trusting(with: &str) -> (Upstream, Proxy, reqwest::Client, String) {
    let upstream = Upstream::start().await;
    let site = format!("revalidate_with = {with}");
    let proxy = Proxy::start(&support::config_text(upstream.addr, "", &site)).await;
    let hour_ago = date_ago(Duration::from_secs(3600));
    upstream.page("/dated", &[HTML, ("last-modified", &hour_ago)], PAGE);
    let tagged = [HTML, ("last-modified", &hour_ago), ("etag", "\"v1\"")];
    upstream.page("/tagged", &tagged, PAGE);
    let client = proxy.client();
    (upstream, proxy, client, hour_ago)
}

#[tokio::test]
async fn a_site_chooses_the_validators_its_upstream_is_asked_by() {
    // Dates not trusted (a CMS dating a page by its article while the sidebar changes):
    // the dated page is read whole every time, the tagged one still asked by its tag.
    let (upstream, proxy, client, _) = trusting(r#"["etag"]"#).await;
    for _ in 0..2 {
        get(&client, &proxy, "/dated", &[]).await;
        assert_eq!(upstream.last_if_modified_since(), None);
        assert_eq!(upstream.last_if_none_match(), None);
    }
    for _ in 0..2 {
        get(&client, &proxy, "/tagged", &[]).await;
    }
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("\"v1\""));
    assert_eq!(upstream.last_if_modified_since(), None);
    assert_eq!(upstream.not_modified_count(), 1);

    // Tags not trusted (Apache's inode-based tags differ between the origin's servers):
    // the tagged page is asked by its date, and its 304 still answered with the kept page.
    let (upstream, proxy, client, hour_ago) = trusting(r#"["last-modified"]"#).await;
    let first = get(&client, &proxy, "/tagged", &[]).await;
    assert_eq!(get(&client, &proxy, "/tagged", &[]).await, first);
    assert_eq!(upstream.last_if_modified_since(), Some(hour_ago));
    assert_eq!(upstream.last_if_none_match(), None);
    assert_eq!(upstream.not_modified_count(), 1);

    // Neither: every page read whole; the rewrite of an unchanged body still comes from
    // the cache.
    let (upstream, proxy, client, _) = trusting("[]").await;
    for path in ["/dated", "/tagged", "/dated", "/tagged"] {
        get(&client, &proxy, path, &[]).await;
        assert_eq!(upstream.last_if_modified_since(), None, "{path}");
        assert_eq!(upstream.last_if_none_match(), None, "{path}");
    }
    assert_eq!(upstream.not_modified_count(), 0);
    assert_eq!(lookups(&proxy.metrics().await, "hit"), 2);
}

#[tokio::test]
async fn weak_etags_cookies_and_the_visitors_own_conditions_are_left_alone() {
    let (upstream, proxy, client) = start("").await;
    let paths = [
        ("/weak", ("etag", "W/\"v1\"")),
        ("/cookie", ("set-cookie", "session=abc; Path=/")),
        ("/varies", ("vary", "Cookie")),
        ("/private", ("cache-control", "private")),
    ];
    for (path, field) in paths {
        let etag = if path == "/weak" {
            ("x-none", "-")
        } else {
            ("etag", "\"v1\"")
        };
        upstream.page(path, &[HTML, etag, field], PAGE);
        for _ in 0..2 {
            get(&client, &proxy, path, &[]).await;
            assert_eq!(upstream.last_if_none_match(), None, "{path}");
        }
    }
    assert_eq!(upstream.not_modified_count(), 0);

    // The visitor's own revalidation goes to the upstream as it was sent, and its 304
    // to the visitor.
    upstream.page("/", &[HTML, ("etag", "\"v1\"")], PAGE);
    get(&client, &proxy, "/", &[]).await;
    let resp = client
        .get(proxy.url(SITE_A, "/"))
        .header("if-none-match", "W/\"v1\"")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 304);
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("W/\"v1\""));
}

#[tokio::test]
async fn revalidation_can_be_turned_off() {
    let (upstream, proxy, client) = start("[server.limits]\npage_cache_revalidate = false").await;
    upstream.page("/", &[HTML, ("etag", "\"v1\"")], PAGE);
    let first = get(&client, &proxy, "/", &[]).await;
    assert_eq!(get(&client, &proxy, "/", &[]).await, first);
    assert_eq!(upstream.last_if_none_match(), None);
    let metrics = proxy.metrics().await;
    assert_eq!(lookups(&metrics, "hit"), 1, "the page cache still works");
}

/// What Chromium sends when it navigates to a page.
const NAVIGATION: (&str, &str) = (
    "accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
);

/// A visitor's gzipped answer, decoded.
async fn gunzipped(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.expect("body");
    String::from_utf8(support::gunzip(&bytes)).expect("utf-8")
}

#[tokio::test]
async fn a_nearby_upstream_is_asked_for_pages_uncompressed_so_their_etag_holds() {
    // The fixture listens on 127.0.0.1: `upstream_page_coding = "auto"` finds it nearby.
    let (upstream, proxy, client) = start("").await;
    upstream.page_compressing("/", &[HTML, ("etag", "\"v1\"")], PAGE);
    let browser = [NAVIGATION, ("accept-encoding", "gzip, deflate")];
    let first = gunzipped(get_a(&client, &proxy, "/", &browser).await).await;
    assert!(first.contains("data-cp-src=\"https://www.googletagmanager.com/gtag/js"));
    assert_eq!(upstream.last().headers["accept-encoding"], "identity");
    // Uncompressed, the page kept its strong tag: the next visitor costs the origin a 304.
    let second = gunzipped(get_a(&client, &proxy, "/", &browser).await).await;
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("\"v1\""));
    assert_eq!(upstream.not_modified_count(), 1);
    assert_eq!(second, first);

    // What is not a page keeps the visitor's codings: it passes through as the origin
    // compressed it.
    upstream.page_compressing(
        "/plans.json",
        &[("content-type", "application/json"), ("etag", "\"j1\"")],
        "{\"plans\":[\"vast\",\"mobiel\"]}",
    );
    let fetch = [("accept", "*/*"), ("accept-encoding", "gzip")];
    let json = gunzipped(get_a(&client, &proxy, "/plans.json", &fetch).await).await;
    assert_eq!(json, "{\"plans\":[\"vast\",\"mobiel\"]}");
    assert_eq!(upstream.last().headers["accept-encoding"], "gzip");
}

#[tokio::test]
async fn compressed_pages_are_asked_for_when_the_site_says_so() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&support::config_text(
        upstream.addr,
        "",
        "upstream_page_coding = \"compressed\"",
    ))
    .await;
    let client = proxy.client();
    upstream.page_compressing("/", &[HTML, ("etag", "\"v1\"")], PAGE);
    let browser = [NAVIGATION, ("accept-encoding", "gzip")];
    let first = gunzipped(get_a(&client, &proxy, "/", &browser).await).await;
    assert_eq!(upstream.last().headers["accept-encoding"], "gzip");
    // The origin's tag came back weak with its gzip: nothing can prove the kept page
    // unchanged, so every request reads it whole (this is what `auto` avoids nearby).
    let second = gunzipped(get_a(&client, &proxy, "/", &browser).await).await;
    assert_eq!(second, first);
    assert_eq!(upstream.last_if_none_match(), None);
    assert_eq!(upstream.not_modified_count(), 0);
    assert!(first.contains("data-cp-src=\"https://www.googletagmanager.com/gtag/js"));
}
