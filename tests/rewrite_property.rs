//! Property: for any HTML without trackers, the rewritten page is the input plus exactly
//! one loader — nothing else changes, wherever the chunks are cut.

use std::sync::Arc;

use consent_proxy::catalog::trackers::{self, Rules};
use consent_proxy::config::Language;
use consent_proxy::consent::ConsentState;
use consent_proxy::rewrite::html::{PageContext, PageRewriter};
use lol_html::AsciiCompatibleEncoding;
use proptest::prelude::*;

const LOADER: &str = "<script src=\"/_cp/banner.js\" data-cp-loader=\"9f3a\"></script>";

fn ctx() -> PageContext {
    PageContext {
        rules: Arc::new(Rules::compile(&trackers::builtin()).expect("rules")),
        consent: ConsentState::undecided(),
        loader: Arc::from(LOADER),
        language: Language::En,
        memory_limit: 1024 * 1024,
        decompression_ratio: 100,
        base: None,
        gtag_id: None,
    }
}

/// Random markup from tags, attributes, text, comments and tracker-free scripts.
fn html() -> impl Strategy<Value = String> {
    let text = "[a-zA-Z0-9 .,:;!?éüß€-]{0,20}";
    let tag = prop::sample::select(vec![
        "div", "p", "span", "a", "b", "section", "title", "li", "ul", "body", "head", "html",
        "main", "footer", "img", "br", "meta", "link",
    ]);
    let attr = ("[a-z]{1,6}", "[a-zA-Z0-9 /:.=_-]{0,12}")
        .prop_map(|(name, value)| format!(" {name}=\"{value}\""));
    let element = (tag, prop::collection::vec(attr, 0..3), text)
        .prop_map(|(tag, attrs, inner)| format!("<{tag}{}>{inner}</{tag}>", attrs.concat()));
    let piece = prop_oneof![
        4 => element,
        2 => text.prop_map(|t| t.to_owned()),
        1 => text.prop_map(|t| format!("<!--{t}-->")),
        1 => "[a-z =;()+0-9']{0,30}".prop_map(|js| format!("<script>var x = 1; {js}</script>")),
        1 => Just("<!doctype html>".to_owned()),
    ];
    prop::collection::vec(piece, 0..30).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn output_is_input_plus_one_loader(doc in html(), cut in 0usize..400) {
        let bytes = doc.as_bytes();
        let cut = cut.min(bytes.len());
        let mut page = PageRewriter::new(&ctx(), AsciiCompatibleEncoding::utf_8());
        let mut out = page.write(&bytes[..cut]);
        out.extend(page.write(&bytes[cut..]));
        out.extend(page.end());
        let out = String::from_utf8(out).expect("utf-8 out");
        prop_assert_eq!(out.matches(LOADER).count(), 1, "{}", out);
        prop_assert_eq!(out.replacen(LOADER, "", 1), doc);
    }
}
