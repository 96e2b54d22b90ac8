//! Content-Security-Policy (CSP Level 3): the injected loader must run under the page's own
//! policy without weakening it for anything but the proxy's own same-origin `/_cp/` paths.

use http::{HeaderMap, HeaderValue, header};

/// What the page's policy means for the loader.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CspPlan {
    /// A nonce from `script-src` (or `default-src`) to put on the injected scripts.
    pub nonce: Option<String>,
}

/// Directives the banner needs: its scripts, its POSTs, its stylesheet.
const EXTENDED: [&str; 3] = ["script-src", "connect-src", "style-src"];

/// Reads the nonce and extends every enforced policy so `{origin}/_cp/` may load scripts,
/// be fetched and provide styles. A policy that does not restrict a directive (neither it
/// nor `default-src` is present) is left alone for that directive.
pub fn adapt(headers: &mut HeaderMap, origin: &str) -> CspPlan {
    let mut plan = CspPlan::default();
    let policies: Vec<HeaderValue> = headers
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .cloned()
        .collect();
    if policies.is_empty() {
        return plan;
    }
    headers.remove(header::CONTENT_SECURITY_POLICY);
    for policy in policies {
        let Ok(text) = policy.to_str() else {
            headers.append(header::CONTENT_SECURITY_POLICY, policy.clone());
            continue;
        };
        if plan.nonce.is_none() {
            plan.nonce = nonce(text);
        }
        let adapted = HeaderValue::from_str(&extend(text, origin)).unwrap_or(policy);
        headers.append(header::CONTENT_SECURITY_POLICY, adapted);
    }
    plan
}

/// The first `'nonce-…'` of `script-src`, else of `default-src`.
fn nonce(policy: &str) -> Option<String> {
    let directives: Vec<(&str, &str)> = directives(policy).collect();
    for wanted in ["script-src", "default-src"] {
        if let Some((_, sources)) = directives
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(wanted))
        {
            return sources.split_ascii_whitespace().find_map(|s| {
                let value = s.strip_prefix("'nonce-")?.strip_suffix('\'')?;
                value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b))
                    .then(|| value.to_owned())
            });
        }
    }
    None
}

fn directives(policy: &str) -> impl Iterator<Item = (&str, &str)> {
    policy.split(';').filter_map(|d| {
        let d = d.trim();
        if d.is_empty() {
            return None;
        }
        let (name, sources) = d.split_once(char::is_whitespace).unwrap_or((d, ""));
        Some((name, sources.trim()))
    })
}

/// Adds `{origin}/_cp/` to each restricted directive the banner needs. A directive missing
/// while `default-src` is present would inherit `default-src`; it is added explicitly as a
/// copy of `default-src` plus our path, which changes nothing else.
fn extend(policy: &str, origin: &str) -> String {
    let own = format!("{origin}/_cp/");
    let list: Vec<(&str, &str)> = directives(policy).collect();
    let default = list
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("default-src"))
        .map(|(_, s)| *s);
    let mut out: Vec<String> = Vec::with_capacity(list.len() + 3);
    for (name, sources) in &list {
        let lower = name.to_ascii_lowercase();
        if EXTENDED.contains(&lower.as_str()) && !allows_none(sources) {
            out.push(format!("{name} {sources} {own}"));
        } else {
            out.push(if sources.is_empty() {
                (*name).to_owned()
            } else {
                format!("{name} {sources}")
            });
        }
    }
    if let Some(default) = default {
        for wanted in EXTENDED {
            if !list.iter().any(|(n, _)| n.eq_ignore_ascii_case(wanted)) {
                let base = if allows_none(default) { "" } else { default };
                out.push(format!("{wanted} {base} {own}").replace("  ", " "));
            }
        }
    }
    out.join("; ")
}

fn allows_none(sources: &str) -> bool {
    sources.trim().eq_ignore_ascii_case("'none'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapt_one(policy: &str) -> (CspPlan, String) {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(policy).expect("value"),
        );
        let plan = adapt(&mut h, "https://voipexpress.nl");
        let out = h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("str")
            .to_owned();
        (plan, out)
    }

    #[test]
    fn nonce_is_found_and_script_src_extended_for_own_path_only() {
        let (plan, out) =
            adapt_one("script-src 'nonce-abc123' 'strict-dynamic'; object-src 'none'");
        assert_eq!(plan.nonce.as_deref(), Some("abc123"));
        assert_eq!(
            out,
            "script-src 'nonce-abc123' 'strict-dynamic' https://voipexpress.nl/_cp/; object-src 'none'"
        );
    }

    #[test]
    fn default_src_gets_explicit_directives() {
        let (plan, out) = adapt_one("default-src 'self' https://cdn.example");
        assert_eq!(plan.nonce, None);
        assert!(out.starts_with("default-src 'self' https://cdn.example"));
        assert!(out.contains("script-src 'self' https://cdn.example https://voipexpress.nl/_cp/"));
        assert!(out.contains("connect-src 'self' https://cdn.example https://voipexpress.nl/_cp/"));
        assert!(!out.contains("unsafe"));
    }

    #[test]
    fn unrestricted_directives_are_left_alone() {
        let (_, out) = adapt_one("frame-ancestors 'none'");
        assert_eq!(out, "frame-ancestors 'none'");
    }
}
