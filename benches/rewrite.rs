//! Rewriter throughput on ~150 KB pages with the full tracker table, one core, for an
//! undecided visitor (everything neutralised). Target (issue 3): at least 300 MB/s on a
//! real-world-like marketing page.
//!
//!     cargo bench --bench rewrite

use std::sync::Arc;

use consent_proxy::catalog::trackers::{self, Rules};
use consent_proxy::config::Language;
use consent_proxy::consent::ConsentState;
use consent_proxy::rewrite::html::{PageContext, PageRewriter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lol_html::AsciiCompatibleEncoding;

/// The binary's allocator (`src/main.rs`): the rewriter allocates per tag, so the figure is
/// only the one a request pays with the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A ~150 KB marketing page as CMS themes produce them: the demo page's head (gtag, GTM,
/// Meta pixel) plus a theme stylesheet inlined, JSON-LD, an SVG icon sprite, navigation,
/// content sections with paragraphs, images and links, a YouTube embed, a handful of
/// inline scripts, and a footer full of links.
fn realistic_page() -> Vec<u8> {
    let demo = include_str!("../assets/demo/index.html");
    let head_end = demo.find("</head>").unwrap_or(demo.len());
    let mut html = String::with_capacity(160 * 1024);
    html.push_str(&demo[..head_end]);
    html.push_str("<style id=\"theme-css\">");
    for i in 0..260 {
        html.push_str(&format!(
            ".c{i}{{margin:0 auto;padding:{}px {}px;color:#1a1a2e;font:16px/1.5 system-ui}}\
             .c{i}:hover{{background:#eef1f6}} @media (max-width:640px){{.c{i}{{padding:8px}}}}\n",
            i % 40,
            i % 24
        ));
    }
    html.push_str("</style><script type=\"application/ld+json\">{\"@context\":\"https://schema.org\",\
        \"@type\":\"Organization\",\"name\":\"VoIP Express\",\"url\":\"https://voipexpress.nl\"}</script>\
        </head><body class=\"home page-template-default\">");
    html.push_str("<svg xmlns=\"http://www.w3.org/2000/svg\" style=\"display:none\">");
    for i in 0..40 {
        html.push_str(&format!(
            "<symbol id=\"icon-{i}\" viewBox=\"0 0 24 24\"><path d=\"M12 2C6.48 2 2 6.48 2 12s4.48 10 10 10 10-4.48 10-10S17.52 2 12 2zm0 18c-4.41 0-8-3.59-8-8s3.59-8 8-8 8 3.59 8 8-3.59 8-8 8z\"/></symbol>"
        ));
    }
    html.push_str("</svg><header class=\"site-header\"><nav><ul>");
    for item in [
        "Home", "Tarieven", "Nummers", "Hardware", "Support", "Over ons", "Contact",
    ] {
        html.push_str(&format!(
            "<li class=\"menu-item\"><a href=\"/{}\">{item}</a></li>",
            item.to_lowercase()
        ));
    }
    html.push_str("</ul></nav></header><main>");
    let mut i = 0;
    while html.len() < 140 * 1024 {
        i += 1;
        html.push_str(&format!(
            "<section class=\"c{} block\" id=\"s{i}\"><h2>Zakelijke telefonie, stap {i}</h2>\
             <p>Met een vast 085-nummer ben je overal bereikbaar: op je mobiel, je laptop en het \
             bureautoestel. Gesprekken komen binnen via een keuzemenu dat je zelf instelt, en buiten \
             kantoortijden gaan ze naar de voicemail of een collega die dienst heeft.</p>\
             <p>Overstappen kost niets en duurt meestal één werkdag. Je houdt je bestaande nummer; \
             wij regelen de nummerbehoud-aanvraag bij je oude provider. <a href=\"/tarieven#s{i}\">\
             Bekijk de tarieven</a> of <a href=\"/contact\">neem contact op</a>.</p>\
             <figure><img src=\"/wp-content/uploads/2026/11/feature-{i}.webp\" alt=\"Functie {i}\" \
             width=\"640\" height=\"400\" loading=\"lazy\" decoding=\"async\">\
             <figcaption>Zo ziet het keuzemenu eruit in de app.</figcaption></figure></section>\n",
            i % 260
        ));
        if i % 12 == 0 {
            html.push_str("<script>document.documentElement.classList.add('js');</script>\n");
        }
        if i == 20 {
            html.push_str(
                "<iframe width=\"560\" height=\"315\" src=\"https://www.youtube.com/embed/dQw4w9WgXcQ\"></iframe>\n",
            );
        }
    }
    html.push_str("</main><footer><div class=\"footer-links\">");
    for j in 0..120 {
        html.push_str(&format!(
            "<a href=\"/nummer/{j}\">Regionummer 0{}</a> ",
            10 + j
        ));
    }
    html.push_str("</div><script>fbq('track', 'ViewContent');</script></footer></body></html>");
    html.into_bytes()
}

/// The worst case: a page of nothing but small elements (~26 per KB), with an inline
/// script in every section.
fn dense_page() -> Vec<u8> {
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
    }
    html.push_str("</body></html>");
    html.into_bytes()
}

fn rewrite(c: &mut Criterion) {
    let ctx = PageContext {
        rules: Arc::new(Rules::compile(&trackers::builtin()).expect("rules")),
        consent: ConsentState::undecided(),
        loader: Arc::from("<script src=\"/_cp/banner.js\" defer data-cp-loader></script>"),
        language: Language::Nl,
        memory_limit: 1024 * 1024,
        decompression_ratio: 100,
        base: None,
        gtag_id: None,
    };
    let mut group = c.benchmark_group("rewrite");
    for (name, page) in [
        ("marketing_page_150k", realistic_page()),
        ("dense_page_150k", dense_page()),
        (
            "tiny_page_setup_cost",
            b"<!doctype html><html><head><title>x</title></head><body><p>hoi</p></body></html>"
                .to_vec(),
        ),
    ] {
        group.throughput(Throughput::Bytes(page.len() as u64));
        group.bench_function(name, |b| {
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
    }
    group.finish();
}

criterion_group!(benches, rewrite);
criterion_main!(benches);
