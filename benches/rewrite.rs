//! Rewriter throughput on a ~150 KB marketing page with the full tracker table, one core.
//! Target (issue 3): at least 300 MB/s.
//!
//!     cargo bench --bench rewrite

use std::sync::Arc;

use consent_proxy::config::Language;
use consent_proxy::consent::ConsentState;
use consent_proxy::rewrite::html::{PageContext, PageRewriter};
use consent_proxy::rewrite::trackers::{self, Rules};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lol_html::AsciiCompatibleEncoding;

/// The demo page's head (gtag, GTM, Meta pixel) and a long body of sections, lists,
/// images, links, a YouTube embed and inline scripts, as real marketing pages have.
fn page() -> Vec<u8> {
    let demo = include_str!("../assets/demo/index.html");
    let head_end = demo.find("<body>").unwrap_or(demo.len());
    let mut html = String::with_capacity(160 * 1024);
    html.push_str(&demo[..head_end]);
    html.push_str("<body>");
    let mut i = 0;
    while html.len() < 150 * 1024 {
        i += 1;
        html.push_str(&format!(
            "<section class=\"feature feature-{i}\" id=\"s{i}\"><h2>Zakelijke telefonie {i}</h2>\
             <p>Vast nummer op je <a href=\"/mobiel?ref={i}\">mobiel</a>, keuzemenu, wachtrij en \
             <strong>nummerbehoud</strong>; binnen een dag overgezet.</p>\
             <ul><li>Onbeperkt bellen</li><li>Eigen 085-nummer</li><li>App voor iOS en Android</li></ul>\
             <img src=\"/img/feature-{i}.webp\" alt=\"Functie {i}\" width=\"320\" height=\"200\" loading=\"lazy\">\
             <script>window.features = (window.features || 0) + {i};</script></section>\n"
        ));
        if i % 25 == 0 {
            html.push_str(
                "<iframe width=\"560\" height=\"315\" src=\"https://www.youtube.com/embed/dQw4w9WgXcQ\"></iframe>\
                 <script>fbq('track', 'ViewContent');</script>\n",
            );
        }
    }
    html.push_str("</body></html>");
    html.into_bytes()
}

fn rewrite(c: &mut Criterion) {
    let page = page();
    let ctx = PageContext {
        rules: Arc::new(Rules::compile(&trackers::builtin()).expect("rules")),
        consent: ConsentState::undecided(),
        loader: Arc::from("<script src=\"/_cp/banner.js\" defer data-cp-loader></script>"),
        language: Language::Nl,
        memory_limit: 1024 * 1024,
    };
    let mut group = c.benchmark_group("rewrite");
    group.throughput(Throughput::Bytes(page.len() as u64));
    group.bench_function("marketing_page_150k_undecided", |b| {
        b.iter(|| {
            let mut rewriter = PageRewriter::new(&ctx, AsciiCompatibleEncoding::utf_8());
            let mut n = 0;
            // 16 KiB chunks, as they arrive from the upstream.
            for chunk in page.chunks(16 * 1024) {
                n += rewriter.write(chunk).len();
            }
            n + rewriter.end().len()
        });
    });
    group.finish();
}

criterion_group!(benches, rewrite);
criterion_main!(benches);
