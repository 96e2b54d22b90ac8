//! `POST /_cp/consent` through the real proxy: the choice is validated, recorded in the
//! real SQLite file before the answer, and answered with the signed cookie; the records
//! are exported and looked up on the admin listener with its token. Strangers' input gets
//! a 4xx and stores nothing.

#[path = "../support/mod.rs"]
mod support;

mod banner_document;
mod choices;
mod strangers;

use consent_proxy::store::{ConsentQuery, Store, StoredConsent};
use serde_json::Value;
use support::{Proxy, SITE_A, Upstream, config_text};

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
