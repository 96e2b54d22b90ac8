//! What strangers send: malformed, foreign or replayed choices get a 4xx, store nothing,
//! and are limited per address and per network.

use serde_json::{Value, json};

use crate::support::SITE_A;
use crate::{origin, post, post_as, records, setup};

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
    let answer = crate::support::raw(proxy.http(), request.as_bytes()).await;
    assert_eq!(
        crate::support::status_of(&answer),
        413,
        "chunked, too large"
    );
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
