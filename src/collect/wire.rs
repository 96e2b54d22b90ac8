//! What the beacon sends to `/_cp/collect`, and GA4's rules it must follow (Measurement
//! Protocol reference, "Limitations"): so a strange request gets a 4xx with a reason here,
//! and a payload GA would drop never reaches the queue.

use serde::Deserialize;
use serde_json::Value;

use crate::privacy::event::ParamValue;

/// Most events in one request.
pub const MAX_EVENTS: usize = 25;
pub const MAX_NAME: usize = 40;
pub const MAX_PARAMS: usize = 25;
pub const MAX_TEXT: usize = 100;
const MAX_URL: usize = 2048;
const MAX_TITLE: usize = 300;

/// Event names GA4 reserves (Measurement Protocol reference).
const RESERVED_NAMES: &[&str] = &[
    "ad_activeview",
    "ad_click",
    "ad_exposure",
    "ad_impression",
    "ad_query",
    "ad_reward",
    "adunit_exposure",
    "app_background",
    "app_clear_data",
    "app_exception",
    "app_remove",
    "app_store_refund",
    "app_store_subscription_cancel",
    "app_store_subscription_convert",
    "app_store_subscription_renew",
    "app_update",
    "app_upgrade",
    "dynamic_link_app_open",
    "dynamic_link_app_update",
    "dynamic_link_first_open",
    "error",
    "firebase_campaign",
    "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss",
    "firebase_in_app_message_impression",
    "first_open",
    "first_visit",
    "in_app_purchase",
    "notification_dismiss",
    "notification_foreground",
    "notification_open",
    "notification_receive",
    "os_update",
    "session_start",
    "session_start_with_rollout",
    "user_engagement",
];
const RESERVED_EVENT_PREFIXES: &[&str] = &["_", "firebase_", "ga_", "google_", "gtag."];
const RESERVED_PARAM_PREFIXES: &[&str] = &["_", "firebase_", "ga_", "google_"];
/// Parameters the proxy sets itself; a page cannot send them.
const OWN_PARAMS: &[&str] = &[
    "page_location",
    "page_referrer",
    "session_id",
    "session_number",
    "engagement_time_msec",
];

/// The internal event of the consent funnel: the banner was shown (counted, not stored).
pub const BANNER_SHOWN: &str = "cp_banner";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub events: Vec<WireEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireEvent {
    pub name: String,
    /// The page (`location.href`).
    pub url: String,
    #[serde(default)]
    pub referrer: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Time the page was in view, for engagement events.
    #[serde(default)]
    pub engagement_ms: Option<u64>,
    #[serde(default)]
    pub params: serde_json::Map<String, Value>,
    /// Already counted by the site's statistics (a page view repeated for GA when
    /// `analytics` is granted on a page that was counted cookieless).
    #[serde(default)]
    pub ga_only: bool,
}

/// A checked event: name, page, parameters as GA accepts them.
#[derive(Debug)]
pub struct Checked {
    pub name: String,
    pub url: String,
    pub referrer: Option<String>,
    pub engagement_ms: u64,
    pub params: Vec<(String, ParamValue)>,
    pub ga_only: bool,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks a batch against GA4's rules; the first problem is the answer's reason.
pub fn check(batch: Batch) -> Result<Vec<Checked>, String> {
    if batch.events.is_empty() {
        return Err("no events".into());
    }
    if batch.events.len() > MAX_EVENTS {
        return Err(format!("at most {MAX_EVENTS} events per request"));
    }
    batch.events.into_iter().map(check_event).collect()
}

fn check_event(e: WireEvent) -> Result<Checked, String> {
    let internal = e.name == BANNER_SHOWN;
    if !internal {
        if !valid_name(&e.name) {
            return Err(format!(
                "event name must be 1–{MAX_NAME} letters, digits or `_`, starting with a letter"
            ));
        }
        if RESERVED_NAMES.contains(&e.name.as_str())
            || RESERVED_EVENT_PREFIXES
                .iter()
                .any(|p| e.name.starts_with(p))
            || e.name.starts_with("cp_")
        {
            return Err(format!("event name `{}` is reserved", e.name));
        }
    }
    if e.url.len() > MAX_URL {
        return Err("url too long".into());
    }
    if e.referrer.as_ref().is_some_and(|r| r.len() > MAX_URL) {
        return Err("referrer too long".into());
    }
    if e.params.len() > MAX_PARAMS {
        return Err(format!("at most {MAX_PARAMS} parameters per event"));
    }
    let mut params = Vec::with_capacity(e.params.len() + 1);
    for (name, value) in e.params {
        if !valid_name(&name) {
            return Err(format!(
                "parameter names must be 1–{MAX_NAME} letters, digits or `_`, starting with a letter"
            ));
        }
        if RESERVED_PARAM_PREFIXES.iter().any(|p| name.starts_with(p))
            || OWN_PARAMS.contains(&name.as_str())
        {
            return Err(format!("parameter `{name}` is reserved"));
        }
        let value = match value {
            Value::String(s) if s.chars().count() <= MAX_TEXT => {
                ParamValue::Text(clean_link(&name, s))
            }
            Value::String(_) => {
                return Err(format!(
                    "parameter `{name}`: text longer than {MAX_TEXT} characters"
                ));
            }
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.is_finite() => ParamValue::Number(f),
                _ => return Err(format!("parameter `{name}`: not a finite number")),
            },
            _ => {
                return Err(format!(
                    "parameter `{name}`: only text and numbers are allowed"
                ));
            }
        };
        params.push((name, value));
    }
    if let Some(title) = e.title.filter(|t| !t.trim().is_empty()) {
        let title: String = title.chars().take(MAX_TITLE.min(MAX_TEXT)).collect();
        if params.len() < MAX_PARAMS {
            params.push(("page_title".into(), ParamValue::Text(title)));
        }
    }
    Ok(Checked {
        name: e.name,
        url: e.url,
        referrer: e.referrer.filter(|r| !r.is_empty()),
        engagement_ms: e.engagement_ms.unwrap_or(0).min(24 * 3600 * 1000),
        params,
        ga_only: e.ga_only,
    })
}

/// A link's URL (outbound clicks, downloads) loses its query and fragment: they can hold
/// tokens and e-mail addresses as well as a page's can.
fn clean_link(name: &str, value: String) -> String {
    if name != "link_url" {
        return value;
    }
    match url::Url::parse(&value) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(json: &str) -> Result<Vec<Checked>, String> {
        check(serde_json::from_str(json).map_err(|e| e.to_string())?)
    }

    #[test]
    fn ga_rules_are_enforced() {
        let ok = r#"{"events":[{"name":"sign_up","url":"https://a.nl/","params":{"plan":"pro","value":9.5,"link_url":"https://x.example/f.pdf?token=1"}}]}"#;
        let checked = batch(ok).expect("valid");
        let link = checked[0]
            .params
            .iter()
            .find(|(k, _)| k == "link_url")
            .expect("link_url");
        assert_eq!(link.1, ParamValue::Text("https://x.example/f.pdf".into()));
        for (bad, why) in [
            (r#"{"events":[]}"#, "no events"),
            (
                r#"{"events":[{"name":"9lives","url":"u"}]}"#,
                "starting with a letter",
            ),
            (
                r#"{"events":[{"name":"first_visit","url":"u"}]}"#,
                "reserved",
            ),
            (r#"{"events":[{"name":"google_x","url":"u"}]}"#, "reserved"),
            (
                r#"{"events":[{"name":"a","url":"u","params":{"ga_x":"1"}}]}"#,
                "reserved",
            ),
            (
                r#"{"events":[{"name":"a","url":"u","params":{"page_location":"1"}}]}"#,
                "reserved",
            ),
            (
                r#"{"events":[{"name":"a","url":"u","params":{"x":{"y":1}}}]}"#,
                "only text and numbers",
            ),
            (
                &format!(
                    r#"{{"events":[{{"name":"a","url":"u","params":{{"x":"{}"}}}}]}}"#,
                    "x".repeat(101)
                ),
                "longer than",
            ),
            (
                &format!(
                    r#"{{"events":[{{"name":"{}","url":"u"}}]}}"#,
                    "a".repeat(41)
                ),
                "1–40",
            ),
        ] {
            let err = batch(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
        let many: Vec<String> = (0..26)
            .map(|_| r#"{"name":"a","url":"u"}"#.to_owned())
            .collect();
        assert!(batch(&format!(r#"{{"events":[{}]}}"#, many.join(","))).is_err());
    }
}
