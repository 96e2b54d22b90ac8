//! The per-site consent settings a site owner writes: how long a choice lasts, what the
//! banner looks like and says, and the services and cookies the preference centre lists
//! (CJEU Planet49: each cookie's purpose, provider and lifetime must be told).

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::Language;
use crate::catalog::Category;

/// `[site.banner]`: look and texts of the banner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BannerConfig {
    /// `bottom` (default), `bottom-left`, `bottom-right` or `center`.
    pub position: BannerPosition,
    /// A small floating button that reopens the settings on every page (GDPR art. 7(3):
    /// withdrawing as easy as giving). Sites with their own footer link may turn it off.
    pub floating_button: bool,
    /// Logo shown in the banner: a path on the site itself (no third-party request).
    pub logo: Option<String>,
    pub colors: Colors,
    /// Replacement texts per language: `[site.banner.texts.nl] title = "…"`.
    pub texts: HashMap<Language, TextOverrides>,
}

impl Default for BannerConfig {
    fn default() -> Self {
        BannerConfig {
            position: BannerPosition::Bottom,
            floating_button: true,
            logo: None,
            colors: Colors::default(),
            texts: HashMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BannerPosition {
    Bottom,
    BottomLeft,
    BottomRight,
    Center,
}

impl BannerPosition {
    pub fn as_str(self) -> &'static str {
        match self {
            BannerPosition::Bottom => "bottom",
            BannerPosition::BottomLeft => "bottom-left",
            BannerPosition::BottomRight => "bottom-right",
            BannerPosition::Center => "center",
        }
    }
}

/// `[site.banner.colors]`, as `#rrggbb`. Validated for WCAG 2.2 AA contrast at load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Colors {
    pub background: String,
    pub text: String,
    /// The three first-layer buttons share it: equal visual weight (EDPB taskforce 2023).
    pub button: String,
    pub button_text: String,
}

impl Default for Colors {
    fn default() -> Self {
        Colors {
            background: "#ffffff".into(),
            text: "#1f2328".into(),
            button: "#1f4e8c".into(),
            button_text: "#ffffff".into(),
        }
    }
}

/// Texts a site may replace; anything left out keeps the built-in translation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextOverrides {
    pub title: Option<String>,
    pub body: Option<String>,
    pub accept_all: Option<String>,
    pub reject_all: Option<String>,
    pub settings: Option<String>,
    pub save: Option<String>,
}

/// Text given once for every language, or per language: `{ nl = "…", en = "…" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Localized {
    Same(String),
    PerLanguage(HashMap<Language, String>),
}

impl Localized {
    /// The text in `lang`, else in `fallback`, else any.
    pub fn get(&self, lang: Language, fallback: Language) -> &str {
        match self {
            Localized::Same(text) => text,
            Localized::PerLanguage(map) => map
                .get(&lang)
                .or_else(|| map.get(&fallback))
                .or_else(|| map.values().next())
                .map_or("", String::as_str),
        }
    }
}

/// One `[[site.services]]`: a third party (or the site itself) and its cookies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    /// Who runs it (the company), told to the visitor.
    pub provider: String,
    pub category: Category,
    pub purpose: Localized,
    /// The provider's privacy policy.
    #[serde(default)]
    pub privacy_policy_url: Option<String>,
    #[serde(default)]
    pub cookies: Vec<CookieInfo>,
}

/// A cookie of a service as the preference centre lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieInfo {
    pub name: String,
    /// `"session"` or a duration: `"2years"`, `"24h"`.
    pub lifetime: CookieLifetime,
    #[serde(default)]
    pub purpose: Option<Localized>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieLifetime {
    Session,
    For(Duration),
}

impl<'de> Deserialize<'de> for CookieLifetime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "session" {
            return Ok(CookieLifetime::Session);
        }
        humantime::parse_duration(&text)
            .map(CookieLifetime::For)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is neither \"session\" nor a duration like \"2years\" ({e})"
                ))
            })
    }
}

/// Relative luminance of `#rrggbb` (WCAG 2.2, definition of relative luminance).
pub fn luminance(hex: &str) -> Option<f64> {
    let hex = hex.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    Some(0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4))
}

/// WCAG contrast ratio of two `#rrggbb` colours, 1 to 21.
pub fn contrast(a: &str, b: &str) -> Option<f64> {
    let (la, lb) = (luminance(a)?, luminance(b)?);
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    Some((hi + 0.05) / (lo + 0.05))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_wcag_reference_values() {
        let black_white = contrast("#000000", "#ffffff").unwrap();
        assert!((black_white - 21.0).abs() < 0.01);
        assert!((contrast("#777777", "#ffffff").unwrap() - 4.48).abs() < 0.01);
        assert_eq!(contrast("#fff", "#000000"), None);
        let d = Colors::default();
        assert!(contrast(&d.text, &d.background).unwrap() >= 4.5);
        assert!(contrast(&d.button_text, &d.button).unwrap() >= 4.5);
    }
}
