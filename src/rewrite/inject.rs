//! The loader injected first in `<head>`: the banner script, with the consent state the
//! server decided for this request, and — for sites that keep their own gtag
//! (`ga.mode = "client"`) — Google Consent Mode v2 defaults before any tag runs.
//!
//! No inline script is injected: the state travels in a `data-` attribute, so pages with a
//! strict Content-Security-Policy need no `'unsafe-inline'` and no hash for us.

use std::fmt::Write as _;

use crate::config::Language;
use crate::consent::ConsentState;

/// Per-site facts the loader needs, fixed at config load.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub site: String,
    /// The banner's languages, for choosing by `<html lang>` when `Accept-Language` did not.
    pub languages: Vec<&'static str>,
    /// Show the floating settings button on every page.
    pub floating_button: bool,
    /// Inject Consent Mode v2 defaults (`mode = "client"` sites).
    pub consent_mode: bool,
    /// Events are collected: `"always"` (cookieless statistics for everyone) or
    /// `"consent"` (only once `analytics` is granted); `None`: no beacon at all.
    pub collect: Option<&'static str>,
    /// `ga.mode = "server"`: the beacon provides `gtag()` / `dataLayer` for the page's own
    /// calls, whose gtag.js never runs.
    pub gtag_shim: bool,
}

/// The loader HTML for one response; `lang` is the banner language `Accept-Language` chose.
pub fn loader(
    config: &LoaderConfig,
    consent: &ConsentState,
    lang: Option<Language>,
    nonce: Option<&str>,
) -> String {
    let mut state = String::with_capacity(160);
    let _ = write!(
        state,
        "{{\"site\":\"{}\",\"decided\":{},\"granted\":[",
        config.site,
        consent.is_decided()
    );
    for (i, category) in consent.granted().iter().enumerate() {
        if i > 0 {
            state.push(',');
        }
        let _ = write!(state, "\"{category}\"");
    }
    state.push(']');
    // No consent id or date: the page is the same for every visitor of this consent class
    // (and kept so in the page cache); the preference centre fetches the visitor's own.
    if config.floating_button {
        state.push_str(",\"fb\":true");
    }
    if consent.gpc() {
        state.push_str(",\"gpc\":true");
    }
    if let Some(collect) = config.collect {
        let _ = write!(state, ",\"collect\":\"{collect}\"");
    }
    if config.gtag_shim {
        state.push_str(",\"gtag\":true");
    }
    if let Some(lang) = lang {
        let _ = write!(state, ",\"lang\":\"{}\"", lang.code());
    }
    state.push_str(",\"langs\":[");
    for (i, code) in config.languages.iter().enumerate() {
        if i > 0 {
            state.push(',');
        }
        let _ = write!(state, "\"{code}\"");
    }
    state.push_str("]}");
    let state = escape_attr(&state);
    let nonce_attr = nonce
        .map(|n| format!(" nonce=\"{}\"", escape_attr(n)))
        .unwrap_or_default();

    let mut html = String::with_capacity(256);
    if config.consent_mode {
        // Google requires the consent default before any tag (Consent Mode v2, EEA since
        // March 2024); a blocking script first in <head> runs before the site's own gtag.
        let _ = write!(
            html,
            "<script src=\"/_cp/consent-mode.js\" data-cp-state=\"{state}\"{nonce_attr}></script>"
        );
    }
    let _ = write!(
        html,
        "<script src=\"/_cp/banner.js\" defer data-cp-loader data-cp-state=\"{state}\"{nonce_attr}></script>"
    );
    if config.collect.is_some() {
        // The beacon reads the loader's state; `defer` keeps it after the banner.
        let _ = write!(
            html,
            "<script src=\"/_cp/beacon.js\" defer data-cp-beacon{nonce_attr}></script>"
        );
    }
    html
}

/// Escapes text for a double-quoted HTML attribute.
pub fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_carries_state_and_nonce() {
        let config = LoaderConfig {
            site: "voipexpress-nl".into(),
            languages: vec!["nl", "en"],
            floating_button: false,
            consent_mode: true,
            collect: None,
            gtag_shim: false,
        };
        let html = loader(
            &config,
            &ConsentState::undecided(),
            Some(Language::En),
            Some("n0nce"),
        );
        assert!(html.starts_with("<script src=\"/_cp/consent-mode.js\""));
        assert!(html.contains(
            "data-cp-state=\"{&quot;site&quot;:&quot;voipexpress-nl&quot;,&quot;decided&quot;:false,&quot;granted&quot;:[&quot;necessary&quot;],&quot;lang&quot;:&quot;en&quot;,&quot;langs&quot;:[&quot;nl&quot;,&quot;en&quot;]}\""
        ));
        assert_eq!(html.matches("nonce=\"n0nce\"").count(), 2);
        assert!(!html.contains("<script>"), "no inline script");
    }
}
