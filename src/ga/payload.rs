//! Measurement Protocol payloads (GA4). One queued row holds one event and its envelope;
//! the sender joins rows of the same client and envelope into requests of at most 25
//! events and 130 kB, as Google's limits ask.
//!
//! Sent: `client_id`, per-event `timestamp_micros`, `user_location` (country, region),
//! `device` (category, language, OS, browser, major version), `consent` (from the
//! `marketing` choice), and per event `page_location` (cleaned), `page_referrer` (an
//! external host only), `session_id`, `session_number`, `engagement_time_msec`.
//! Never sent: `user_agent`, `user_data`, a full address; `ip_override` only when a site
//! asks for it, and then the truncated address.

use serde_json::{Map, Value, json};

use super::client::Client;
use crate::privacy::event::ParamValue;
use crate::privacy::{AnonymizedEvent, AnonymizedIp};
use crate::store::QueuedEvent;

/// GA4's limits (Measurement Protocol reference).
pub const MAX_EVENTS: usize = 25;
pub const MAX_PARAMS: usize = 25;
pub const MAX_BODY: usize = 130_000;

/// The queue row for one event: `{ "env": …, "event": … }`.
pub fn queued_payload(
    event: &AnonymizedEvent,
    client: &Client,
    marketing: bool,
    scheme: &str,
    ip_override: Option<AnonymizedIp>,
) -> String {
    let mut env = Map::new();
    let location = event.location();
    if let Some(country) = &location.country {
        let mut loc = json!({ "country_id": country });
        if let Some(region) = &location.region {
            loc["region_id"] = json!(region);
        }
        env.insert("user_location".into(), loc);
    }
    let device = event.device();
    let mut dev = json!({
        "category": device.category.as_str(),
        "operating_system": device.os,
        "browser": device.browser_name(),
    });
    if let Some(v) = device.browser_version {
        dev["browser_version"] = json!(v.to_string());
    }
    if let Some(lang) = event.language() {
        dev["language"] = json!(lang);
    }
    env.insert("device".into(), dev);
    let consent = if marketing { "GRANTED" } else { "DENIED" };
    env.insert(
        "consent".into(),
        json!({ "ad_user_data": consent, "ad_personalization": consent }),
    );
    if let Some(ip) = ip_override {
        env.insert("ip_override".into(), json!(ip.to_string()));
    }

    let mut params = Map::new();
    params.insert("page_location".into(), json!(event.page().location(scheme)));
    if let Some(host) = event.referrer() {
        params.insert("page_referrer".into(), json!(format!("https://{host}/")));
    }
    params.insert("session_id".into(), json!(client.session_id.to_string()));
    params.insert("session_number".into(), json!(client.session_number));
    params.insert(
        "engagement_time_msec".into(),
        json!(event.engagement_ms().max(1)),
    );
    for (name, value) in event.params() {
        if params.len() >= MAX_PARAMS {
            break;
        }
        let value = match value {
            ParamValue::Text(t) => json!(t),
            ParamValue::Number(n) => json!(n),
        };
        params.entry(name.clone()).or_insert(value);
    }
    json!({
        "env": Value::Object(env),
        "event": {
            "name": event.name(),
            "params": Value::Object(params),
            "timestamp_micros": event.ts_ms().saturating_mul(1000),
        },
    })
    .to_string()
}

/// One request to GA: the rows it carries and its body.
#[derive(Debug)]
pub struct Request {
    pub site: String,
    pub ids: Vec<i64>,
    pub body: String,
}

/// Rows of one site, client and envelope: (site, client, envelope JSON, ids, events).
type Group = (String, String, String, Vec<i64>, Vec<Value>);

/// Joins queued rows into requests: one client and one envelope per request, at most
/// [`MAX_EVENTS`] events and [`MAX_BODY`] bytes. Rows that are not valid JSON (never
/// written by this proxy) come back in the second list, to be dropped.
pub fn requests(rows: &[QueuedEvent]) -> (Vec<Request>, Vec<i64>) {
    let mut groups: Vec<Group> = Vec::new();
    let mut broken = Vec::new();
    for row in rows {
        let Ok(Value::Object(mut parsed)) = serde_json::from_str::<Value>(&row.payload) else {
            broken.push(row.id);
            continue;
        };
        let (Some(env), Some(event)) = (parsed.remove("env"), parsed.remove("event")) else {
            broken.push(row.id);
            continue;
        };
        let env_text = env.to_string();
        let group = groups.iter_mut().find(|(site, client, e, ids, _)| {
            *site == row.site
                && *client == row.client_id
                && *e == env_text
                && ids.len() < MAX_EVENTS
        });
        match group {
            Some((_, _, _, ids, events)) => {
                ids.push(row.id);
                events.push(event);
            }
            None => groups.push((
                row.site.clone(),
                row.client_id.clone(),
                env_text,
                vec![row.id],
                vec![event],
            )),
        }
    }
    let mut out = Vec::new();
    for (site, client, env, ids, events) in groups {
        let Ok(Value::Object(env)) = serde_json::from_str::<Value>(&env) else {
            continue;
        };
        // Split further if the body would pass GA's size limit.
        let mut start = 0;
        while start < events.len() {
            let mut end = events.len();
            loop {
                let body = body(&client, &env, &events[start..end]);
                if body.len() <= MAX_BODY || end - start == 1 {
                    out.push(Request {
                        site: site.clone(),
                        ids: ids[start..end].to_vec(),
                        body,
                    });
                    break;
                }
                end = start + (end - start) / 2;
            }
            start = end;
        }
    }
    (out, broken)
}

fn body(client: &str, env: &Map<String, Value>, events: &[Value]) -> String {
    let mut top = env.clone();
    top.insert("client_id".into(), json!(client));
    if let Some(ts) = events.first().and_then(|e| e.get("timestamp_micros")) {
        top.insert("timestamp_micros".into(), ts.clone());
    }
    top.insert("events".into(), Value::Array(events.to_vec()));
    Value::Object(top).to_string()
}

/// A sample request as the proxy would send it, for `consent-proxy ga-check`: a page view
/// on `host` from a Dutch desktop Chrome visitor.
pub fn sample(host: &str) -> String {
    let now = crate::clock::unix_now_ms();
    json!({
        "client_id": format!("1234567890.{}", now / 1000),
        "timestamp_micros": now * 1000,
        "user_location": { "country_id": "NL" },
        "device": {
            "category": "desktop", "language": "nl", "operating_system": "Windows",
            "browser": "Chrome", "browser_version": "131",
        },
        "consent": { "ad_user_data": "DENIED", "ad_personalization": "DENIED" },
        "events": [{
            "name": "page_view",
            "timestamp_micros": now * 1000,
            "params": {
                "page_location": format!("https://{host}/?utm_source=ga-check"),
                "session_id": (now / 1000).to_string(),
                "session_number": 1,
                "engagement_time_msec": 1,
            },
        }],
    })
    .to_string()
}
