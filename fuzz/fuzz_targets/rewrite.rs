//! Fuzz target: any bytes, cut anywhere, through the HTML rewriter — it must not panic
//! and must inject the loader exactly once.
//!
//!     cargo +nightly fuzz run rewrite

#![no_main]

use std::sync::Arc;

use consent_proxy::config::Language;
use consent_proxy::consent::ConsentState;
use consent_proxy::rewrite::html::{PageContext, PageRewriter};
use consent_proxy::catalog::trackers::{self, Rules};
use libfuzzer_sys::fuzz_target;
use lol_html::AsciiCompatibleEncoding;

const LOADER: &[u8] = b"<script data-cp-loader=\"f0a5e1c3\"></script>";

fuzz_target!(|data: &[u8]| {
    let Some((&cut, page)) = data.split_first() else { return };
    let ctx = PageContext {
        rules: Arc::new(Rules::compile(&trackers::builtin()).expect("rules")),
        consent: ConsentState::undecided(),
        loader: Arc::from(std::str::from_utf8(LOADER).expect("ascii")),
        language: Language::Nl,
        memory_limit: 1024 * 1024,
        decompression_ratio: 100,
        base: None,
        gtag_id: None,
    };
    let cut = usize::from(cut).min(page.len());
    let mut rewriter = PageRewriter::new(&ctx, AsciiCompatibleEncoding::utf_8());
    let mut out = rewriter.write(&page[..cut]);
    out.extend(rewriter.write(&page[cut..]));
    out.extend(rewriter.end());
    let count = |hay: &[u8]| hay.windows(LOADER.len()).filter(|w| *w == LOADER).count();
    assert_eq!(count(&out), count(page) + 1, "exactly one injection");
});
