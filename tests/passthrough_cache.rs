//! Passthrough responses (JSON, images, downloads) kept for revalidation through the real
//! proxy: an unchanged resource with a strong `ETag` (or, from an origin that sends none,
//! an old enough `Last-Modified` date) costs the upstream a `304` and comes from memory,
//! byte for byte; a changed one is read again at once; `?id=2` never gets
//! `?id=1`'s bytes under a shared tag; responses for one visitor only and credentialed
//! requests are never kept; a compressed response is revalidated by its weakened tag
//! unless the site leaves weak tags out; and the switch turns it off.

mod support;

use support::{Proxy, Upstream, behind_proxy, counter, date_ago, get_a};

const JSON: (&str, &str) = ("content-type", "application/json");

/// `consent_proxy_page_cache_passthrough_total` of site A for one result.
fn passthrough(metrics: &str, result: &str) -> u64 {
    counter(
        metrics,
        &format!(
            "consent_proxy_page_cache_passthrough_total{{site=\"voipexpress\",result=\"{result}\"}}"
        ),
    )
}

/// Status, one response field and the body of a GET.
async fn get(
    client: &reqwest::Client,
    proxy: &Proxy,
    path: &str,
    headers: &[(&str, &str)],
    field: &str,
) -> (u16, Option<String>, Vec<u8>) {
    let resp = get_a(client, proxy, path, headers).await;
    let status = resp.status().as_u16();
    let value = resp
        .headers()
        .get(field)
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, value, resp.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn an_unchanged_resource_costs_a_304_and_a_changed_one_is_read_again() {
    let (upstream, proxy, client) = behind_proxy("").await;
    let v1 = br#"{"plans":[{"name":"Basis","price":9}]}"#.to_vec();
    upstream.page(
        "/plans.json",
        &[JSON, ("etag", "\"v1\""), ("x-served", "first")],
        v1.clone(),
    );
    let (status, _, body) = get(&client, &proxy, "/plans.json", &[], "x-served").await;
    assert_eq!((status, body), (200, v1.clone()));
    assert_eq!(upstream.last_if_none_match(), None, "nothing kept yet");
    let metrics = proxy.metrics().await;
    assert_eq!(passthrough(&metrics, "kept"), 1);
    assert!(
        counter(&metrics, "consent_proxy_page_cache_bytes ") >= v1.len() as u64,
        "the kept version counts in the cache's size: {metrics}"
    );

    // Unchanged: the upstream is asked about v1, answers 304 (with a field of its own),
    // and the visitor gets v1's bytes with the 304's fields (RFC 9111 §4.3.4).
    upstream.page(
        "/plans.json",
        &[JSON, ("etag", "\"v1\""), ("x-served", "second")],
        v1.clone(),
    );
    let (status, served, body) = get(&client, &proxy, "/plans.json", &[], "x-served").await;
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("\"v1\""));
    assert_eq!(upstream.not_modified_count(), 1);
    assert_eq!((status, body), (200, v1.clone()));
    assert_eq!(served.as_deref(), Some("second"));
    assert_eq!(passthrough(&proxy.metrics().await, "hit"), 1);

    // Changed: the upstream's 200 is what the visitor gets, and is the version kept next.
    let v2 = br#"{"plans":[{"name":"Basis","price":11}]}"#.to_vec();
    upstream.page("/plans.json", &[JSON, ("etag", "\"v2\"")], v2.clone());
    let (_, _, body) = get(&client, &proxy, "/plans.json", &[], "etag").await;
    assert_eq!(body, v2, "a changed resource is never answered from memory");
    let (_, _, body) = get(&client, &proxy, "/plans.json", &[], "etag").await;
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("\"v2\""));
    assert_eq!((body, upstream.not_modified_count()), (v2, 2));
}

#[tokio::test]
async fn an_image_from_an_origin_without_etags_is_revalidated_by_its_date() {
    let (upstream, proxy, client) = behind_proxy("").await;
    // Apache with `FileETag None`: files carry only their modification date.
    let modified = date_ago(std::time::Duration::from_secs(86_400));
    let logo: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
    let image = [("content-type", "image/png"), ("last-modified", &modified)];
    upstream.page("/logo.png", &image, logo.clone());
    for _ in 0..2 {
        let (status, date, body) = get(&client, &proxy, "/logo.png", &[], "last-modified").await;
        assert_eq!((status, date.as_deref()), (200, Some(modified.as_str())));
        assert!(body == logo, "the image arrived changed");
    }
    assert_eq!(upstream.last_if_modified_since(), Some(modified));
    assert_eq!(upstream.not_modified_count(), 1);
    assert_eq!(passthrough(&proxy.metrics().await, "hit"), 1);
}

#[tokio::test]
async fn another_query_is_another_resource_even_under_the_same_tag() {
    let (upstream, proxy, client) = behind_proxy("").await;
    // An origin may tag every product "v3": a tag tells versions of one resource apart,
    // not resources (RFC 9110 §8.8.3).
    upstream.page("/product?id=1", &[JSON, ("etag", "\"v3\"")], "{\"id\":1}");
    upstream.page("/product?id=2", &[JSON, ("etag", "\"v3\"")], "{\"id\":2}");
    let (_, _, one) = get(&client, &proxy, "/product?id=1", &[], "etag").await;
    let (_, _, two) = get(&client, &proxy, "/product?id=2", &[], "etag").await;
    assert_eq!(one, b"{\"id\":1}");
    assert_eq!(two, b"{\"id\":2}", "id=2 was asked about id=1's version");
    let (_, _, two) = get(&client, &proxy, "/product?id=2", &[], "etag").await;
    assert_eq!(two, b"{\"id\":2}");
    assert_eq!(
        upstream.not_modified_count(),
        1,
        "id=2's own version was revalidated"
    );
}

#[tokio::test]
async fn responses_for_one_visitor_and_credentialed_requests_are_never_kept() {
    let (upstream, proxy, client) = behind_proxy("").await;
    upstream.page(
        "/me.json",
        &[JSON, ("etag", "\"u1\""), ("cache-control", "private")],
        "{\"me\":1}",
    );
    upstream.page(
        "/session.json",
        &[JSON, ("etag", "\"s1\""), ("set-cookie", "sid=abc; Path=/")],
        "{\"s\":1}",
    );
    upstream.page("/account.json", &[JSON, ("etag", "\"a1\"")], "{\"a\":1}");
    let bearer = [("authorization", "Bearer visitor-one")];
    for _ in 0..2 {
        get(&client, &proxy, "/me.json", &[], "etag").await;
        assert_eq!(upstream.last_if_none_match(), None, "private");
        get(&client, &proxy, "/session.json", &[], "etag").await;
        assert_eq!(upstream.last_if_none_match(), None, "Set-Cookie");
        get(&client, &proxy, "/account.json", &bearer, "etag").await;
        assert_eq!(upstream.last_if_none_match(), None, "Authorization");
    }
    let metrics = proxy.metrics().await;
    assert_eq!(passthrough(&metrics, "kept"), 0, "{metrics}");
    assert_eq!(upstream.not_modified_count(), 0);
}

#[tokio::test]
async fn a_download_streams_whole_and_the_switch_turns_keeping_off() {
    let (upstream, proxy, client) = behind_proxy("").await;
    let file: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let download = [("content-type", "application/pdf"), ("etag", "\"pdf1\"")];
    upstream.page("/tarieven.pdf", &download, file.clone());
    for _ in 0..2 {
        let (status, _, body) = get(&client, &proxy, "/tarieven.pdf", &[], "etag").await;
        assert_eq!(status, 200);
        assert!(body == file, "the download arrived changed");
    }
    assert_eq!(
        upstream.not_modified_count(),
        1,
        "the second one came from memory"
    );

    let (upstream, proxy, client) =
        behind_proxy("[server.limits]\npage_cache_passthrough = false").await;
    upstream.page("/tarieven.pdf", &download, file.clone());
    for _ in 0..2 {
        let (_, _, body) = get(&client, &proxy, "/tarieven.pdf", &[], "etag").await;
        assert!(body == file);
        assert_eq!(
            upstream.last_if_none_match(),
            None,
            "switched off: never asked"
        );
    }
    assert_eq!(passthrough(&proxy.metrics().await, "kept"), 0);
}

/// The gzipped bytes of a response, decoded.
fn gunzip(body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut plain)
        .expect("gzip");
    plain
}

#[tokio::test]
async fn a_compressed_response_is_revalidated_by_its_weakened_tag() {
    let (upstream, proxy, client) = behind_proxy("").await;
    // nginx `gzip on; gzip_proxied any; gzip_types application/json`: to a visitor
    // accepting gzip the JSON comes compressed on the fly — chunked, without a length —
    // and its `ETag` made weak (RFC 9110 §8.8.1).
    let v1 = br#"{"plans":[{"name":"Basis","price":9}]}"#.repeat(40);
    upstream.page_compressing("/plans.json", &[JSON, ("etag", "\"v1\"")], v1.clone());
    let gzip = [("accept-encoding", "gzip")];
    let (_, etag, first) = get(&client, &proxy, "/plans.json", &gzip, "etag").await;
    assert_eq!(etag.as_deref(), Some("W/\"v1\""));
    assert_eq!(gunzip(&first), v1);
    let (status, coding, second) =
        get(&client, &proxy, "/plans.json", &gzip, "content-encoding").await;
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("W/\"v1\""));
    assert_eq!(upstream.not_modified_count(), 1);
    assert_eq!((status, coding.as_deref()), (200, Some("gzip")));
    assert!(second == first, "the kept bytes arrived changed");
    assert_eq!(passthrough(&proxy.metrics().await, "hit"), 1);

    // The visitor's codings are in the key: one asking for identity is never given the
    // gzipped bytes, and gets the strong tag of its own version.
    let identity = [("accept-encoding", "identity")];
    let (_, etag, plain) = get(&client, &proxy, "/plans.json", &identity, "etag").await;
    assert_eq!((etag.as_deref(), plain), (Some("\"v1\""), v1));

    // Changed: a new weak tag, read at once and kept next.
    let v2 = br#"{"plans":[{"name":"Basis","price":11}]}"#.repeat(40);
    upstream.page_compressing("/plans.json", &[JSON, ("etag", "\"v2\"")], v2.clone());
    let (_, etag, changed) = get(&client, &proxy, "/plans.json", &gzip, "etag").await;
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("W/\"v1\""));
    assert_eq!((etag.as_deref(), gunzip(&changed)), (Some("W/\"v2\""), v2));
    get(&client, &proxy, "/plans.json", &gzip, "etag").await;
    assert_eq!(upstream.last_if_none_match().as_deref(), Some("W/\"v2\""));
    assert_eq!(upstream.not_modified_count(), 2);
}

#[tokio::test]
async fn a_site_not_trusting_weak_tags_reads_compressed_responses_whole() {
    let upstream = Upstream::start().await;
    let site = r#"revalidate_with = ["etag", "last-modified"]"#;
    let proxy = Proxy::start(&support::config_text(upstream.addr, "", site)).await;
    let client = proxy.client();
    let plans = br#"{"plans":[{"name":"Basis","price":9}]}"#.repeat(40);
    upstream.page_compressing("/plans.json", &[JSON, ("etag", "\"v1\"")], plans.clone());
    for _ in 0..2 {
        let (_, _, body) = get(
            &client,
            &proxy,
            "/plans.json",
            &[("accept-encoding", "gzip")],
            "etag",
        )
        .await;
        assert_eq!(gunzip(&body), plans);
        assert_eq!(upstream.last_if_none_match(), None);
    }
    assert_eq!(passthrough(&proxy.metrics().await, "kept"), 0);
    assert_eq!(upstream.not_modified_count(), 0);
}
