//! The banner document, in the language asked for or the one the browser prefers.

use serde_json::Value;

use crate::setup;
use crate::support::SITE_A;

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
