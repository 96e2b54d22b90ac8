//! Revalidations shared through the real proxy (`proxy::coalesce`): requests for a kept
//! page that queue behind a revalidation on its way share the next one, never the one
//! already asked — so a page changed while they waited is read again — and requests with
//! credentials, or with sharing off, always ask the upstream themselves.

mod support;

use std::time::Duration;

use support::{Proxy, SITE_A, Upstream, config_text, counter};
use tokio::task::JoinHandle;

const PAGE: &str = "<!doctype html><html lang=\"nl\"><head><meta charset=\"utf-8\"></head>\
<body><h1>Versie 1</h1></body></html>";

const HTML: (&str, &str) = ("content-type", "text/html; charset=utf-8");

async fn start(server_extra: &str) -> (Upstream, Proxy, reqwest::Client) {
    let upstream = Upstream::start().await;
    upstream.page("/", &[HTML, ("etag", "\"v1\"")], PAGE);
    let proxy = Proxy::start(&config_text(upstream.addr, server_extra, "")).await;
    let client = proxy.client();
    (upstream, proxy, client)
}

/// A request for `/` sent on its own task: its status and body once answered.
fn fetch(
    client: &reqwest::Client,
    proxy: &Proxy,
    headers: &[(&'static str, &'static str)],
) -> JoinHandle<(u16, String)> {
    let mut req = client.get(proxy.url(SITE_A, "/"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    tokio::spawn(async move {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("text"))
    })
}

const WAITING: &str = "consent_proxy_page_cache_revalidations_waiting";
const SHARED: &str = "consent_proxy_page_cache_revalidations_shared_total{site=\"voipexpress\"}";

/// Until the proxy reports `n` requests queued for the next round (the gauge is the only
/// outside view of a request that sent nothing yet).
async fn queued(proxy: &Proxy, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if counter(&proxy.metrics().await, WAITING) == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} requests never queued"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The next request the held upstream received, or a failure after 10 s.
async fn arrives(arrived: &mut tokio::sync::mpsc::UnboundedReceiver<()>, what: &str) {
    tokio::time::timeout(Duration::from_secs(10), arrived.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} never reached the upstream"))
        .expect("upstream running");
}

#[tokio::test]
async fn requests_queued_behind_a_revalidation_share_the_next_one() {
    let (upstream, proxy, client) = start("").await;
    let first = fetch(&client, &proxy, &[]).await.expect("task");
    assert_eq!(first.0, 200);
    let mut arrived = upstream.on_held();
    upstream.hold_canned(true);

    let a = fetch(&client, &proxy, &[]);
    arrives(&mut arrived, "a's revalidation").await;
    let queued_behind: Vec<_> = (0..3).map(|_| fetch(&client, &proxy, &[])).collect();
    queued(&proxy, 3).await;
    assert_eq!(upstream.count(), 2, "the queued requests asked nothing yet");

    // a is answered; one of the three asks for all of them.
    upstream.release();
    arrives(&mut arrived, "the next round's revalidation").await;
    assert_eq!(upstream.count(), 3);
    upstream.hold_canned(false);
    upstream.release();

    assert_eq!(a.await.expect("task"), first);
    for request in queued_behind {
        assert_eq!(request.await.expect("task"), first);
    }
    assert_eq!(
        upstream.count(),
        3,
        "one revalidation answered three requests"
    );
    assert_eq!(upstream.not_modified_count(), 2);
    let metrics = proxy.metrics().await;
    assert_eq!(counter(&metrics, SHARED), 2);
    assert_eq!(counter(&metrics, WAITING), 0);
}

#[tokio::test]
async fn a_page_changed_while_a_revalidation_was_on_its_way_reaches_those_queued_behind_it() {
    let (upstream, proxy, client) = start("").await;
    fetch(&client, &proxy, &[]).await.expect("task");
    let mut arrived = upstream.on_held();
    upstream.hold_canned(true);

    let a = fetch(&client, &proxy, &[]);
    arrives(&mut arrived, "a's revalidation").await;
    // The page changes after the upstream decided a's answer (304), before it is sent;
    // b and c arrive at the proxy after that.
    upstream.page(
        "/",
        &[HTML, ("etag", "\"v2\"")],
        PAGE.replace("Versie 1", "Versie 2"),
    );
    let b = fetch(&client, &proxy, &[]);
    let c = fetch(&client, &proxy, &[]);
    queued(&proxy, 2).await;
    upstream.release();
    arrives(&mut arrived, "the next round's revalidation").await;
    upstream.hold_canned(false);
    upstream.release();

    let (status, a) = a.await.expect("task");
    assert_eq!(status, 200);
    assert!(
        a.contains("Versie 1"),
        "a was answered as the upstream answered it: {a}"
    );
    for request in [b, c] {
        let (status, page) = request.await.expect("task");
        assert_eq!(status, 200);
        assert!(
            page.contains("Versie 2") && !page.contains("Versie 1"),
            "never the answer to a question asked before they arrived: {page}"
        );
    }
    assert_eq!(counter(&proxy.metrics().await, SHARED), 0);
}

#[tokio::test]
async fn requests_with_credentials_ask_the_upstream_themselves() {
    let (upstream, proxy, client) = start("").await;
    fetch(&client, &proxy, &[]).await.expect("task");
    let mut arrived = upstream.on_held();
    upstream.hold_canned(true);

    let a = fetch(&client, &proxy, &[]);
    arrives(&mut arrived, "a's revalidation").await;
    // RFC 9111 §3.5: a request with credentials is never answered from another's response.
    let b = fetch(&client, &proxy, &[("authorization", "Basic dTpw")]);
    arrives(&mut arrived, "the request with credentials").await;
    let last = upstream.last();
    assert_eq!(last.headers["authorization"], "Basic dTpw");
    upstream.hold_canned(false);
    upstream.release();
    assert_eq!(a.await.expect("task").0, 200);
    assert_eq!(b.await.expect("task").0, 200);
    assert_eq!(counter(&proxy.metrics().await, SHARED), 0);
}

#[tokio::test]
async fn sharing_can_be_turned_off() {
    let (upstream, proxy, client) =
        start("[server.limits]\npage_cache_share_revalidations = false").await;
    fetch(&client, &proxy, &[]).await.expect("task");
    let mut arrived = upstream.on_held();
    upstream.hold_canned(true);

    let a = fetch(&client, &proxy, &[]);
    arrives(&mut arrived, "a's revalidation").await;
    let b = fetch(&client, &proxy, &[]);
    arrives(&mut arrived, "b's own revalidation").await;
    upstream.hold_canned(false);
    upstream.release();
    assert_eq!(a.await.expect("task"), b.await.expect("task"));
    assert_eq!(upstream.not_modified_count(), 2);
}
