//! Cookie enforcement through the real proxy: refused categories' cookies are dropped from
//! responses, stripped from requests and expired; Global Privacy Control refuses marketing.

mod support;

use consent_proxy::consent::Category;
use support::{Proxy, SITE_A, Upstream, config_text, consent_cookie, set_cookies};

async fn setup(site_extra: &str) -> (Upstream, Proxy) {
    let upstream = Upstream::start().await;
    upstream.page(
        "/",
        &[
            ("content-type", "text/plain"),
            ("set-cookie", "_ga=GA1.1.1; Path=/; Max-Age=63072000"),
            ("set-cookie", "_fbp=fb.1.1; Path=/"),
            ("set-cookie", "session=abc; HttpOnly"),
        ],
        "ok",
    );
    let proxy = Proxy::start(&config_text(upstream.addr, "", site_extra)).await;
    (upstream, proxy)
}

#[tokio::test]
async fn undecided_visitor_gets_no_tracker_cookie_and_sends_none_upstream() {
    let (upstream, proxy) = setup("").await;
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("cookie", "_ga=GA1.1.old; session=abc; _fbp=fb.old")
        .send()
        .await
        .expect("request");
    let cookies = set_cookies(&resp);
    assert!(
        cookies.contains(&"session=abc; HttpOnly".to_owned()),
        "{cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("_ga=GA1")),
        "{cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("_fbp=fb")),
        "{cookies:?}"
    );
    // The ones the browser still holds are expired, host-only and on the parent domain.
    for name in ["_ga", "_fbp"] {
        assert!(support::expires(&cookies, name, None), "{cookies:?}");
        assert!(
            support::expires(&cookies, name, Some("voipexpress.test")),
            "{cookies:?}"
        );
    }
    assert_eq!(upstream.last().headers["cookie"], "session=abc");
}

#[tokio::test]
async fn granted_analytics_keeps_ga_but_not_marketing() {
    let (upstream, proxy) = setup("").await;
    let consent = consent_cookie(&proxy, &[Category::Analytics], "1");
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("cookie", format!("{consent}; _ga=GA1.1.old; _fbp=fb.old"))
        .send()
        .await
        .expect("request");
    let cookies = set_cookies(&resp);
    assert!(
        cookies.iter().any(|c| c.starts_with("_ga=GA1.1.1")),
        "{cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("_fbp=fb")),
        "{cookies:?}"
    );
    assert!(support::expires_any(&cookies, "_fbp"), "{cookies:?}");
    assert!(!support::expires_any(&cookies, "_ga"), "{cookies:?}");
    assert_eq!(upstream.last().headers["cookie"], "_ga=GA1.1.old");
}

#[tokio::test]
async fn global_privacy_control_refuses_marketing_even_after_a_grant() {
    let (upstream, proxy) = setup("").await;
    let consent = consent_cookie(
        &proxy,
        &[
            Category::Analytics,
            Category::Marketing,
            Category::Preferences,
        ],
        "1",
    );
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("cookie", format!("{consent}; _ga=GA1.1.old; _fbp=fb.old"))
        .header("sec-gpc", "1")
        .send()
        .await
        .expect("request");
    let cookies = set_cookies(&resp);
    assert!(
        cookies.iter().any(|c| c.starts_with("_ga=GA1.1.1")),
        "{cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("_fbp=fb")),
        "{cookies:?}"
    );
    assert_eq!(upstream.last().headers["cookie"], "_ga=GA1.1.old");
}

#[tokio::test]
async fn unknown_cookies_can_be_blocked_per_site_and_are_counted() {
    let (upstream, proxy) = setup("unknown_cookies = \"block\"").await;
    let resp = proxy
        .client()
        .get(proxy.url(SITE_A, "/"))
        .header("cookie", "session=abc; other=1")
        .send()
        .await
        .expect("request");
    let cookies = set_cookies(&resp);
    assert!(
        !cookies.iter().any(|c| c.starts_with("session=abc")),
        "{cookies:?}"
    );
    assert!(!upstream.last().headers.contains_key("cookie"));
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("consent_proxy_cookies_blocked_total{site=\"voipexpress\",category=\"analytics\",direction=\"response\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("consent_proxy_unknown_cookies_total{site=\"voipexpress\"} 3"),
        "{metrics}"
    );
}
