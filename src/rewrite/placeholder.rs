//! The placeholder a blocked embed shows: what loading it would do, in the site's
//! language, with a button that grants its category.

use crate::catalog::Category;
use crate::config::Language;

/// The placeholder shown instead of a blocked embed, as `srcdoc` (same origin, so the
/// banner script can wire its button; styled from `/_cp/`, so a strict CSP still holds).
pub(super) fn placeholder(service: &str, category: Category, language: Language) -> String {
    let (text, button) = match language {
        Language::Nl => (
            format!(
                "Deze inhoud van {service} wordt pas geladen als je {} toestaat. {service} kan dan cookies plaatsen en je bezoek volgen.",
                category_name_nl(category)
            ),
            "Toestaan en laden",
        ),
        Language::Fr => (
            format!(
                "Ce contenu de {service} n'est chargé que si vous acceptez les {}. {service} pourra alors déposer des cookies et suivre votre visite.",
                category_name_fr(category)
            ),
            "Accepter et charger",
        ),
        Language::De => (
            format!(
                "Dieser Inhalt von {service} wird erst geladen, wenn Sie {} zulassen. {service} kann dann Cookies setzen und Ihren Besuch verfolgen.",
                category_name_de(category)
            ),
            "Zulassen und laden",
        ),
        Language::En => (
            format!(
                "This content from {service} loads only if you allow {} cookies. {service} can then set cookies and track your visit.",
                category.as_str()
            ),
            "Allow and load",
        ),
    };
    format!(
        "<!doctype html><html lang=\"{lang}\"><title>{name}</title>\
         <link rel=\"stylesheet\" href=\"/_cp/placeholder.css\">\
         <main class=\"cp-placeholder\" data-cp-placeholder=\"{cat}\"><h1>{name}</h1><p>{text}</p>\
         <button type=\"button\" data-cp-allow=\"{cat}\">{button}</button></main></html>",
        lang = language.code(),
        cat = category.as_str(),
        name = super::inject::escape_attr(service),
        text = super::inject::escape_attr(&text),
    )
}

fn category_name_nl(c: Category) -> &'static str {
    match c {
        Category::Necessary => "noodzakelijke cookies",
        Category::Preferences => "voorkeurscookies",
        Category::Analytics => "analytische cookies",
        Category::Marketing => "marketingcookies",
    }
}

fn category_name_fr(c: Category) -> &'static str {
    match c {
        Category::Necessary => "cookies nécessaires",
        Category::Preferences => "cookies de préférences",
        Category::Analytics => "cookies analytiques",
        Category::Marketing => "cookies marketing",
    }
}

fn category_name_de(c: Category) -> &'static str {
    match c {
        Category::Necessary => "notwendige Cookies",
        Category::Preferences => "Präferenz-Cookies",
        Category::Analytics => "Statistik-Cookies",
        Category::Marketing => "Marketing-Cookies",
    }
}
