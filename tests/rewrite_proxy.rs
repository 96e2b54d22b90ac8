//! The HTML rewrite through the real proxy: codings, charsets, CSP, what is and is not
//! rewritten, and the proxy's own `/_cp/` files.

mod support;

use std::io::{Read, Write};

use support::{Proxy, SITE_A, Upstream, config_text, gunzip, gzip};

const PAGE: &str = "<!doctype html><html lang=\"nl\"><head><meta charset=\"utf-8\">\
<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-DEMO1\"></script>\
<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}gtag('config','G-DEMO1');</script>\
<script>fbq('init','1');fbq('track','PageView');</script>\
</head><body><h1>Welkom</h1>\
<iframe width=\"560\" height=\"315\" src=\"https://www.youtube.com/embed/abc\"></iframe>\
<noscript><img height=\"1\" width=\"1\" src=\"https://www.facebook.com/tr?id=1&ev=PageView&noscript=1\"></noscript>\
</body></html>";

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).expect("br");
    }
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_end(&mut out)
        .expect("unbrotli");
    out
}

/// What every rewritten page must show for an undecided visitor.
fn assert_neutralised(html: &str) {
    let head = html.find("<head>").expect("head") + "<head>".len();
    assert!(
        html[head..].starts_with("<script src=\"/_cp/banner.js\" defer data-cp-loader"),
        "loader first in head: {html}"
    );
    assert_eq!(html.matches("/_cp/banner.js").count(), 1);
    assert!(
        !html.contains(" src=\"https://www.googletagmanager.com"),
        "{html}"
    );
    assert!(html.contains("data-cp-src=\"https://www.googletagmanager.com/gtag/js?id=G-DEMO1\""));
    assert!(
        html.contains(
            "<script type=\"text/plain\" data-cp-category=\"analytics\">window.dataLayer"
        )
    );
    assert!(html.contains("<script type=\"text/plain\" data-cp-category=\"marketing\">fbq("));
    assert!(html.contains("data-cp-src=\"https://www.youtube.com/embed/abc\""));
    assert!(!html.contains("facebook.com/tr"), "{html}");
}

async fn start() -> (Upstream, Proxy) {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(&config_text(upstream.addr, "", "")).await;
    (upstream, proxy)
}

#[tokio::test]
async fn gzip_upstream_is_rewritten_and_recompressed_for_the_visitor() {
    let (upstream, proxy) = start().await;
    upstream.page(
        "/gz",
        &[
            ("content-type", "text/html; charset=utf-8"),
            ("content-encoding", "gzip"),
            ("etag", "\"v1\""),
            ("cache-control", "public, max-age=60"),
        ],
        gzip(PAGE.as_bytes()),
    );
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/gz"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-encoding"], "gzip");
    assert_eq!(h["etag"], "W/\"v1\"");
    assert_eq!(h["cache-control"], "private, max-age=60");
    assert_eq!(h["vary"], "Accept-Encoding, Cookie");
    let body = resp.bytes().await.expect("body");
    // Not the upstream's length: the rewritten page's own (a page in hand has one).
    assert_eq!(h["content-length"], body.len().to_string().as_str());
    assert_neutralised(&String::from_utf8(gunzip(&body)).expect("utf-8"));
    // The upstream was only offered codings the rewriter can decode.
    assert_eq!(upstream.last().headers["accept-encoding"], "gzip");
}

#[tokio::test]
async fn brotli_upstream_to_a_brotli_visitor_and_to_an_identity_visitor() {
    let (upstream, proxy) = start().await;
    upstream.page(
        "/br",
        &[("content-type", "text/html"), ("content-encoding", "br")],
        brotli(PAGE.as_bytes()),
    );
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/br"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.headers()["content-encoding"], "br");
    let body = resp.bytes().await.expect("body");
    assert_neutralised(&String::from_utf8(unbrotli(&body)).expect("utf-8"));

    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/br"))
        .send()
        .await
        .expect("request");
    assert!(!resp.headers().contains_key("content-encoding"));
    assert_neutralised(&resp.text().await.expect("text"));
}

#[tokio::test]
async fn windows_1252_page_comes_out_byte_correct() {
    let (upstream, proxy) = start().await;
    let mut page = b"<html><head><title>Caf".to_vec();
    page.push(0xE9);
    page.extend_from_slice(b"</title></head><body>Prijs: 9,95 ");
    page.push(0x80); // the euro sign in windows-1252
    page.extend_from_slice(b"</body></html>");
    upstream.page(
        "/latin",
        &[("content-type", "text/html; charset=windows-1252")],
        page.clone(),
    );
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/latin"))
        .send()
        .await
        .expect("request");
    let body = resp.bytes().await.expect("body").to_vec();
    let loader_at = b"<html><head>".len();
    assert_eq!(&body[..loader_at], &page[..loader_at]);
    // The loader: the banner script, then the beacon (this site collects statistics).
    let end = b"data-cp-beacon></script>";
    let rest = body
        .windows(end.len())
        .position(|w| w == end)
        .expect("loader")
        + end.len();
    assert_eq!(
        &body[rest..],
        &page[loader_at..],
        "the site's bytes are unchanged"
    );
}

#[tokio::test]
async fn csp_nonce_is_used_and_policy_extended_only_for_own_path() {
    let (upstream, proxy) = start().await;
    upstream.page(
        "/csp",
        &[
            ("content-type", "text/html"),
            (
                "content-security-policy",
                "script-src 'nonce-r4nd0m' 'strict-dynamic'; object-src 'none'; base-uri 'none'",
            ),
        ],
        PAGE,
    );
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/csp"))
        .send()
        .await
        .expect("request");
    let policy = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    let own = format!("http://{SITE_A}:{}/_cp/", proxy.http().port());
    assert_eq!(
        policy,
        format!(
            "script-src 'nonce-r4nd0m' 'strict-dynamic' {own}; object-src 'none'; base-uri 'none'"
        )
    );
    let html = resp.text().await.expect("text");
    assert!(html.contains("data-cp-loader"));
    assert!(html.contains("nonce=\"r4nd0m\"></script>"), "{html}");
}

#[tokio::test]
async fn head_range_and_non_html_are_not_rewritten() {
    let (upstream, proxy) = start().await;
    upstream.page("/p", &[("content-type", "text/html")], PAGE);
    upstream.page_with_status(
        "/part",
        206,
        &[
            ("content-type", "text/html"),
            ("content-range", "bytes 0-9/100"),
        ],
        &PAGE.as_bytes()[..10],
    );
    upstream.page(
        "/data.json",
        &[("content-type", "application/json")],
        "{\"gtag(\":1}",
    );
    let client = proxy.client();

    let head = client
        .head(proxy.url(SITE_A, "/p"))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.expect("body").is_empty());

    let part = client
        .get(proxy.url(SITE_A, "/part"))
        .header("range", "bytes=0-9")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.expect("body").as_ref(),
        &PAGE.as_bytes()[..10]
    );

    let json = client
        .get(proxy.url(SITE_A, "/data.json"))
        .send()
        .await
        .expect("json");
    assert_eq!(json.text().await.expect("text"), "{\"gtag(\":1}");
}

#[tokio::test]
async fn own_files_are_served_by_the_proxy_and_never_forwarded() {
    let (upstream, proxy) = start().await;
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/_cp/banner.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        resp.text()
            .await
            .expect("js")
            .contains("window.ConsentProxy")
    );
    let missing = proxy
        .client()
        .get(proxy.url(SITE_A, "/_cp/nothing-here"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn neutralised_elements_are_counted_per_site_and_category() {
    let (upstream, proxy) = start().await;
    upstream.page("/p", &[("content-type", "text/html")], PAGE);
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/p"))
        .send()
        .await
        .expect("request");
    resp.text().await.expect("body");
    let metrics = proxy.metrics().await;
    for line in [
        "consent_proxy_neutralised_total{site=\"voipexpress\",category=\"analytics\",kind=\"script\"} 1",
        "consent_proxy_neutralised_total{site=\"voipexpress\",category=\"analytics\",kind=\"inline_script\"} 1",
        "consent_proxy_neutralised_total{site=\"voipexpress\",category=\"marketing\",kind=\"inline_script\"} 1",
        "consent_proxy_neutralised_total{site=\"voipexpress\",category=\"marketing\",kind=\"iframe\"} 1",
        "consent_proxy_neutralised_total{site=\"voipexpress\",category=\"marketing\",kind=\"pixel\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

use consent_proxy::consent::Category;
use support::consent_cookie;

#[tokio::test]
async fn granted_categories_pass_untouched_and_refused_ones_are_neutralised() {
    let (upstream, proxy) = start().await;
    upstream.page("/p", &[("content-type", "text/html")], PAGE);
    let get = |cookie: String| {
        let client = proxy.client();
        let url = proxy.url(SITE_A, "/p");
        async move {
            client
                .get(url)
                .header("cookie", format!("{cookie}; session=abc"))
                .send()
                .await
                .expect("request")
                .text()
                .await
                .expect("text")
        }
    };

    // Analytics granted, marketing refused.
    let html = get(consent_cookie(&proxy, &[Category::Analytics], "1")).await;
    assert!(
        html.contains(
            "<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-DEMO1\"></script>"
        ),
        "{html}"
    );
    assert!(html.contains("<script>window.dataLayer=window.dataLayer||[];function gtag()"));
    assert!(html.contains("<script type=\"text/plain\" data-cp-category=\"marketing\">fbq("));
    assert!(html.contains("data-cp-src=\"https://www.youtube.com/embed/abc\""));
    assert!(
        html.contains("&quot;decided&quot;:true"),
        "state says decided: {html}"
    );
    // The proxy's own cookie never reaches the site; the site's cookies do.
    assert_eq!(upstream.last().headers["cookie"], "session=abc");

    // Everything granted: the page byte for byte, plus the loader.
    let all = [
        Category::Preferences,
        Category::Analytics,
        Category::Marketing,
    ];
    let html = get(consent_cookie(&proxy, &all, "1")).await;
    let end = "data-cp-beacon></script>";
    let loader_end = html.find(end).expect("loader") + end.len();
    let head = PAGE.find("<head>").expect("head") + "<head>".len();
    assert_eq!(&html[..head], &PAGE[..head]);
    assert_eq!(&html[loader_end..], &PAGE[head..]);

    // A cookie for an older policy version, or a tampered one, is no decision at all.
    let old_policy = get(consent_cookie(&proxy, &all, "0")).await;
    assert_neutralised(&old_policy);
    let mut forged = consent_cookie(&proxy, &all, "1");
    forged.insert(forged.len() - 3, 'x');
    assert_neutralised(&get(forged).await);
}
