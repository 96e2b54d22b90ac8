//! What the banner shows for one site, compiled at config load into one JSON document per
//! language and served at `/_cp/banner.json?lang=xx`. The banner script is the same for
//! every site; only this document differs.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Value, json};

use super::assets::Precompressed;
use super::texts::Texts;
use super::{Category, CategorySet};
use crate::config::banner::{CookieLifetime, Localized};
use crate::config::{Language, SiteConfig};

/// The banner documents of one site.
#[derive(Debug)]
pub struct SiteUi {
    pub languages: Vec<Language>,
    pub default_language: Language,
    /// Categories the visitor chooses from (never `necessary`).
    pub choices: CategorySet,
    documents: HashMap<Language, Precompressed>,
}

impl SiteUi {
    pub fn new(site: &SiteConfig) -> SiteUi {
        let default_language = site
            .default_language
            .or_else(|| site.languages.first().copied())
            .unwrap_or(Language::En);
        let documents = site
            .languages
            .iter()
            .map(|lang| {
                let doc = document(site, *lang, default_language);
                (*lang, Precompressed::new(Bytes::from(doc.to_string())))
            })
            .collect();
        SiteUi {
            languages: site.languages.clone(),
            default_language,
            choices: site.categories.iter().copied().collect(),
            documents,
        }
    }

    /// The document for `lang`, or for the default language when the site does not offer it.
    pub fn document(&self, lang: Option<Language>) -> (Language, Precompressed) {
        let lang = lang
            .filter(|l| self.languages.contains(l))
            .unwrap_or(self.default_language);
        let doc = self.documents.get(&lang).cloned().unwrap_or_default();
        (lang, doc)
    }

    /// The site language the visitor's `Accept-Language` prefers (RFC 9110 §12.5.4),
    /// `None` when it names none of them (the banner then asks `<html lang>`).
    pub fn negotiate(&self, accept_language: Option<&str>) -> Option<Language> {
        let mut best: Option<(u16, Language)> = None;
        for item in accept_language?.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, |q| crate::coding::parse_q(q).unwrap_or(0));
            if q == 0 {
                continue;
            }
            if let Some(lang) = Language::parse(&primary).filter(|l| self.languages.contains(l))
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }
}

fn document(site: &SiteConfig, lang: Language, fallback: Language) -> Value {
    let t = Texts::of(lang);
    let custom = site.banner.texts.get(&lang);
    let pick = |own: Option<&String>, builtin: &'static str| -> String {
        own.cloned().unwrap_or_else(|| builtin.to_owned())
    };
    let lifetime = |l: CookieLifetime| match l {
        CookieLifetime::Session => t.session.to_owned(),
        CookieLifetime::For(d) => t.duration(d),
    };
    let localized = |text: &Localized| text.get(lang, fallback).to_owned();
    let categories: Vec<Value> = std::iter::once(Category::Necessary)
        .chain(site.categories.iter().copied())
        .map(|category| {
            let (name, description) = t.category(category);
            let services: Vec<Value> = site
                .services
                .iter()
                .filter(|s| s.category == category)
                .map(|s| {
                    json!({
                        "name": s.name,
                        "provider": s.provider,
                        "purpose": localized(&s.purpose),
                        "policy": s.privacy_policy_url,
                        "cookies": s.cookies.iter().map(|c| json!({
                            "name": c.name,
                            "lifetime": lifetime(c.lifetime),
                            "purpose": c.purpose.as_ref().map(localized),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "id": category.as_str(),
                "name": name,
                "description": description,
                "locked": category == Category::Necessary,
                "gpc": site.gpc_refuses.contains(&category),
                "services": services,
            })
        })
        .collect();
    let colors = &site.banner.colors;
    json!({
        "lang": lang.code(),
        "languages": site.languages.iter().map(|l| l.code()).collect::<Vec<_>>(),
        "position": site.banner.position.as_str(),
        "floating": site.banner.floating_button,
        "logo": site.banner.logo,
        "policy": site.privacy_policy_url,
        "colors": {
            "background": colors.background,
            "text": colors.text,
            "button": colors.button,
            "buttonText": colors.button_text,
        },
        "text": {
            "title": pick(custom.and_then(|c| c.title.as_ref()), t.title),
            "body": pick(custom.and_then(|c| c.body.as_ref()), t.body),
            "acceptAll": pick(custom.and_then(|c| c.accept_all.as_ref()), t.accept_all),
            "rejectAll": pick(custom.and_then(|c| c.reject_all.as_ref()), t.reject_all),
            "settings": pick(custom.and_then(|c| c.settings.as_ref()), t.settings),
            "save": pick(custom.and_then(|c| c.save.as_ref()), t.save),
            "back": t.back,
            "privacyPolicy": t.privacy_policy,
            "preferencesTitle": t.preferences_title,
            "alwaysOn": t.always_on,
            "services": t.services,
            "provider": t.provider,
            "cookie": t.cookie,
            "purpose": t.purpose,
            "lifetime": t.lifetime,
            "noServices": t.no_services,
            "consentId": t.consent_id,
            "consentDate": t.consent_date,
            "gpcNotice": t.gpc_notice,
            "language": t.language,
            "saved": t.saved,
            "error": t.error,
        },
        "categories": categories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn site(extra: &str) -> SiteConfig {
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[[site]]\nname = \"be\"\nhosts = [\"zonenummer.be\"]\nupstream = \"http://127.0.0.1:1\"\njurisdiction = \"be\"\n{extra}"
        );
        Config::parse("t.toml", &text).unwrap().sites.remove(0)
    }

    #[test]
    fn accept_language_picks_the_best_offered_language() {
        let ui = SiteUi::new(&site(""));
        assert_eq!(
            ui.negotiate(Some("fr-BE,fr;q=0.9,nl;q=0.8")),
            Some(Language::Fr)
        );
        assert_eq!(
            ui.negotiate(Some("de-DE, nl;q=0.5, fr;q=0.7")),
            Some(Language::Fr)
        );
        assert_eq!(ui.negotiate(Some("de-DE, es")), None, "neither offered");
        assert_eq!(ui.negotiate(Some("fr;q=0, nl;q=0.1")), Some(Language::Nl));
        assert_eq!(ui.negotiate(Some("fr;q=abc")), None);
        assert_eq!(ui.negotiate(None), None);
    }

    #[test]
    fn documents_carry_services_texts_and_overrides() {
        let ui = SiteUi::new(&site(
            r##"
[site.banner]
position = "bottom-left"
logo = "/logo.svg"
floating_button = false
colors = { background = "#000000", text = "#ffffff", button = "#ffd700", button_text = "#000000" }
[site.banner.texts.fr]
title = "Vos choix"
[[site.services]]
name = "Google Analytics"
provider = "Google Ireland Ltd."
category = "analytics"
purpose = { nl = "Bezoekersstatistieken", fr = "Statistiques de visite" }
cookies = [{ name = "_ga", lifetime = "2years" }, { name = "_gid", lifetime = "24h" }]
"##,
        ));
        let (lang, doc) = ui.document(Some(Language::Fr));
        assert_eq!(lang, Language::Fr);
        let (doc, _) = doc.negotiate(&http::HeaderMap::new());
        let doc: Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(doc["text"]["title"], "Vos choix");
        assert_eq!(doc["position"], "bottom-left");
        assert_eq!(doc["logo"], "/logo.svg");
        assert_eq!(doc["floating"], false);
        assert_eq!(doc["colors"]["button"], "#ffd700");
        assert_eq!(doc["languages"], serde_json::json!(["nl", "fr", "en"]));
        assert_eq!(doc["text"]["acceptAll"], "Tout accepter");
        let analytics = &doc["categories"][2];
        assert_eq!(analytics["id"], "analytics");
        assert_eq!(
            analytics["services"][0]["purpose"],
            "Statistiques de visite"
        );
        assert_eq!(analytics["services"][0]["cookies"][0]["lifetime"], "2 ans");
        assert_eq!(analytics["services"][0]["cookies"][1]["lifetime"], "1 jour");
        assert_eq!(doc["categories"][0]["locked"], true);
        // A language the site does not offer falls back to its default.
        let (lang, _) = ui.document(Some(Language::De));
        assert_eq!(lang, Language::Nl);
    }
}
