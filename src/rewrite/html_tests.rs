//! Tests of the streaming rewrite on tricky HTML (a sibling file: they are longer than the
//! rewrite itself).

use super::*;
use crate::catalog::CategorySet;
use crate::catalog::trackers::{self, Rules};

const LOADER: &str = "<script src=\"/_cp/banner.js\" data-cp-loader></script>";

fn ctx(granted: &[Category]) -> PageContext {
    let set: CategorySet = granted.iter().copied().collect();
    PageContext {
        rules: Arc::new(Rules::compile(&trackers::builtin()).expect("rules")),
        consent: if granted.is_empty() {
            ConsentState::undecided()
        } else {
            ConsentState::decided(set)
        },
        loader: Arc::from(LOADER),
        language: Language::Nl,
        memory_limit: 1024 * 1024,
        decompression_ratio: 100,
        base: None,
        gtag_id: None,
    }
}

fn run(ctx: &PageContext, chunks: &[&[u8]]) -> (Vec<u8>, Counts) {
    let mut page = PageRewriter::new(ctx, AsciiCompatibleEncoding::utf_8());
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(page.write(chunk));
    }
    out.extend(page.end());
    (out, page.counts())
}

fn rewrite(html: &str) -> String {
    String::from_utf8(run(&ctx(&[]), &[html.as_bytes()]).0).expect("utf-8")
}

const GTAG: &str =
    "<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-1\"></script>";
const FBQ: &str = "<script>fbq('init', '1'); fbq('track', 'PageView');</script>";

#[test]
fn loader_is_first_in_head_at_every_split_offset() {
    let doc = format!(
        "<!doctype html><html lang=\"nl\"><head><meta charset=\"utf-8\">{GTAG}</head><body>hoi</body></html>"
    );
    let whole = rewrite(&doc);
    assert!(whole.starts_with(&format!(
        "<!doctype html><html lang=\"nl\"><head>{LOADER}<meta"
    )));
    let bytes = doc.as_bytes();
    for i in 0..=bytes.len() {
        let (out, _) = run(&ctx(&[]), &[&bytes[..i], &bytes[i..]]);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            whole,
            "split at {i}"
        );
    }
}

#[test]
fn no_head_injects_before_first_element_after_html() {
    let out = rewrite("<html><body><p>hoi</p></body></html>");
    assert_eq!(out, format!("<html>{LOADER}<body><p>hoi</p></body></html>"));
    let out = rewrite("<!doctype html><title>x</title><p>hoi");
    assert_eq!(
        out,
        format!("<!doctype html>{LOADER}<title>x</title><p>hoi")
    );
    let out = rewrite("just text, no element");
    assert_eq!(out, format!("{LOADER}just text, no element"));
    let out = rewrite("");
    assert_eq!(out, LOADER);
    // A <head> later than the first element does not get a second loader.
    let out = rewrite("<meta charset=utf-8><head><title>x</title></head>");
    assert_eq!(out.matches(LOADER).count(), 1);
    assert!(out.starts_with(LOADER));
}

#[test]
fn a_removed_first_element_keeps_the_loader() {
    let out = rewrite("<img src=\"https://www.facebook.com/tr?id=1\"><p>x</p>");
    assert_eq!(out, format!("{LOADER}<p>x</p>"));
    let out = rewrite("<script>fbq('x')</script><p>x</p>");
    assert!(out.starts_with(LOADER), "{out}");
    assert_eq!(out.matches(LOADER).count(), 1);
}

#[test]
fn missing_end_of_head_still_one_loader() {
    let out = rewrite("<html><head><title>x</title><body>no closing head");
    assert_eq!(out.matches(LOADER).count(), 1);
    assert!(out.starts_with(&format!("<html><head>{LOADER}")));
}

#[test]
fn byte_order_mark_stays_first() {
    let out = rewrite("\u{feff}<!doctype html><head></head>");
    assert_eq!(out, format!("\u{feff}<!doctype html><head>{LOADER}</head>"));
}

#[test]
fn uppercase_tags_are_recognised() {
    let out = rewrite(
        "<HTML><HEAD><SCRIPT SRC=\"https://connect.facebook.net/en_US/fbevents.js\"></SCRIPT></HEAD></HTML>",
    );
    assert!(
        out.contains("data-cp-src=\"https://connect.facebook.net/en_US/fbevents.js\""),
        "{out}"
    );
    assert!(out.contains("type=\"text/plain\""));
    assert!(!out.contains(" SRC="), "{out}");
    assert!(out.starts_with(&format!("<HTML><HEAD>{LOADER}")));
}

#[test]
fn external_tracker_script_is_made_inert_keeping_its_url() {
    let (out, counts) = run(&ctx(&[]), &[GTAG.as_bytes()]);
    let out = String::from_utf8(out).expect("utf-8");
    assert!(out.contains("type=\"text/plain\""), "{out}");
    assert!(out.contains("data-cp-category=\"analytics\""));
    assert!(out.contains("data-cp-src=\"https://www.googletagmanager.com/gtag/js?id=G-1\""));
    assert!(!out.contains(" src=\"https://"), "{out}");
    assert_eq!(
        counts.by_kind[Kind::Script as usize][Category::Analytics as usize],
        1
    );
}

#[test]
fn inline_tracker_script_is_made_inert() {
    let (out, counts) = run(&ctx(&[]), &[FBQ.as_bytes()]);
    let out = String::from_utf8(out).expect("utf-8");
    assert_eq!(
        out,
        format!(
            "{LOADER}<script type=\"text/plain\" data-cp-category=\"marketing\">fbq('init', '1'); fbq('track', 'PageView');</script>"
        )
    );
    assert_eq!(
        counts.by_kind[Kind::InlineScript as usize][Category::Marketing as usize],
        1
    );
}

#[test]
fn inline_script_split_across_chunks_is_judged_whole() {
    let doc = format!("<head>{FBQ}<script>console.log('site')</script></head>");
    let bytes = doc.as_bytes();
    let whole = rewrite(&doc);
    for i in 0..=bytes.len() {
        let (out, _) = run(&ctx(&[]), &[&bytes[..i], &bytes[i..]]);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            whole,
            "split at {i}"
        );
    }
    assert!(whole.contains("<script>console.log('site')</script>"));
}

#[test]
fn site_scripts_and_data_blocks_are_untouched() {
    let doc = "<script type=\"application/ld+json\">{\"gtag(\":1}</script><script src=\"/js/app.js\"></script><script type=\"module\">import './a.js'</script>";
    assert_eq!(rewrite(doc), format!("{LOADER}{doc}"));
}

#[test]
fn scripts_in_comments_and_textarea_are_text() {
    let comment = "<!-- <script src=\"https://connect.facebook.net/x.js\"></script> -->";
    let textarea =
        "<textarea><script src=\"https://connect.facebook.net/x.js\"></script></textarea>";
    assert_eq!(
        rewrite(&format!("{comment}{textarea}")),
        format!("{comment}{LOADER}{textarea}")
    );
}

#[test]
fn template_and_noscript_contents_are_neutralised() {
    let out = rewrite(
        "<template><script src=\"https://connect.facebook.net/x.js\"></script></template>\
         <noscript><img height=\"1\" width=\"1\" src=\"https://www.facebook.com/tr?id=1&ev=PageView\"></noscript>",
    );
    assert!(
        out.contains("data-cp-src=\"https://connect.facebook.net/x.js\""),
        "{out}"
    );
    assert!(out.contains("<noscript></noscript>"), "{out}");
}

#[test]
fn attributes_with_angle_brackets_in_quotes() {
    let out =
        rewrite("<p>a</p><img alt=\"a > b\" src=\"https://www.facebook.com/tr?id=1\"><p>b</p>");
    assert_eq!(out, format!("{LOADER}<p>a</p><p>b</p>"));
}

#[test]
fn embeds_get_a_placeholder_and_hidden_frames_go() {
    let out = rewrite(
        "<iframe width=\"560\" height=\"315\" src=\"https://www.youtube.com/embed/x\"></iframe>\
         <noscript><iframe src=\"https://www.googletagmanager.com/ns.html?id=GTM-1\" height=\"0\" width=\"0\" style=\"display:none;visibility:hidden\"></iframe></noscript>",
    );
    assert!(
        out.contains("data-cp-src=\"https://www.youtube.com/embed/x\""),
        "{out}"
    );
    assert!(out.contains("srcdoc=\""), "{out}");
    assert!(out.contains("YouTube"));
    assert!(!out.contains("ns.html"), "{out}");
    assert!(!out.contains(" src=\"https://www.youtube"), "{out}");
}

#[test]
fn uppercase_and_scheme_relative_tracker_urls_are_caught() {
    let out = rewrite(
        "<p>x</p><img src=\"HTTPS://WWW.FACEBOOK.COM/tr?id=1\"><img src=\"//www.facebook.com/tr?id=2\"><img src=\"/logo.png\">",
    );
    assert_eq!(out, format!("{LOADER}<p>x</p><img src=\"/logo.png\">"));
}

#[test]
fn hints_to_tracker_hosts_are_removed() {
    let out = rewrite(
        "<link rel=\"preconnect\" href=\"https://www.googletagmanager.com\"><link rel=\"stylesheet\" href=\"/style.css\">",
    );
    assert_eq!(
        out,
        format!("{LOADER}<link rel=\"stylesheet\" href=\"/style.css\">")
    );
}

#[test]
fn granted_categories_stay_byte_for_byte() {
    let doc = format!("<head>{GTAG}{FBQ}</head>");
    let (out, counts) = run(&ctx(&[Category::Analytics]), &[doc.as_bytes()]);
    let out = String::from_utf8(out).expect("utf-8");
    assert!(out.contains(GTAG), "analytics granted: {out}");
    assert!(
        out.contains("data-cp-category=\"marketing\""),
        "marketing refused: {out}"
    );
    assert_eq!(counts.total(), 1);

    let all = ctx(&[
        Category::Preferences,
        Category::Analytics,
        Category::Marketing,
    ]);
    let messy = "<HEAD><SCRIPT async SRC='https://connect.facebook.net/x.js'></SCRIPT><script defer>fbq('x')</script></HEAD>";
    let (out, counts) = run(&all, &[messy.as_bytes()]);
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        format!("<HEAD>{LOADER}{}", &messy[6..])
    );
    assert_eq!(counts.total(), 0);
}

#[test]
fn large_data_url_in_a_matched_tag_passes() {
    let data = "A".repeat(200 * 1024);
    let doc = format!("<head></head><img src=\"data:image/png;base64,{data}\"><p>na</p>");
    let out = rewrite(&doc);
    assert_eq!(
        out,
        format!("<head>{LOADER}</head><img src=\"data:image/png;base64,{data}\"><p>na</p>")
    );
}

#[test]
fn memory_limit_fails_closed() {
    let mut small = ctx(&[]);
    small.memory_limit = 64 * 1024;
    let huge = "B".repeat(512 * 1024);
    let doc = format!(
        "<head></head><img alt=\"{huge}\" src=\"/x.png\"><p>the end</p>{GTAG}\
         <iframe src=\"https://www.youtube.com/embed/x\"></iframe>"
    );
    let bytes = doc.as_bytes();
    let chunks: Vec<&[u8]> = bytes.chunks(8 * 1024).collect();
    let (out, counts) = run(&small, &chunks);
    let out = String::from_utf8(out).expect("utf-8");
    assert!(counts.failsafe);
    assert!(out.starts_with(&format!("<head>{LOADER}</head>")));
    // Nothing after the bail-out can load or run: not the site's image, not gtag.
    let tail = &out[out.len() - 400..];
    assert!(tail.contains("<p>the end</p>"), "{tail}");
    assert!(
        !tail.contains("<img ") && !tail.contains("<iframe "),
        "{tail}"
    );
    assert!(
        tail.contains("<script type=\"text/plain\" data-cp-failsafe"),
        "{tail}"
    );
    assert!(out.contains("<cp-img alt=\"BBBB"));
}

#[test]
fn huge_inline_scripts_and_noscripts_are_not_held_whole() {
    let mut small = ctx(&[]);
    small.memory_limit = 64 * 1024;
    let mut page = PageRewriter::new(&small, AsciiCompatibleEncoding::utf_8());
    page.write(b"<html><head></head><body><script>var site = 1;\n");
    let line = "console.log('regel');\n".repeat(400);
    let mut emitted = 0usize;
    for _ in 0..100 {
        emitted += page.write(line.as_bytes()).len();
    }
    // ~880 KB fed; all but the last budget's worth is out already.
    assert!(emitted > 600 * 1024, "held: only {emitted} bytes out");
    let mut out = page.write(b"fbq('init', '1');</script><noscript>");
    let pixel = "<img src=\"https://www.facebook.com/tr?id=1\">".repeat(2000);
    for _ in 0..10 {
        out.extend(page.write(pixel.as_bytes()));
    }
    out.extend(page.write(b"</noscript><p>einde</p>"));
    out.extend(page.end());
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        !out.contains("facebook.com/tr"),
        "the oversized noscript is dropped"
    );
    assert!(out.ends_with("<p>einde</p>"));
    assert_eq!(
        page.counts().by_kind[Kind::InlineScript as usize][Category::Marketing as usize],
        1,
        "the oversized script failed closed"
    );
}

#[test]
fn an_oversized_inline_script_fails_closed() {
    let mut small = ctx(&[]);
    small.memory_limit = 64 * 1024;
    let body = "x();".repeat(40 * 1024);
    let doc = format!("<head></head><script>{body}</script><p>na</p>");
    let (out, _) = run(&small, &[doc.as_bytes()]);
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        out.contains("<script type=\"text/plain\" data-cp-category=\"marketing\">x();"),
        "{}",
        &out[..300]
    );
    assert!(out.ends_with("</script><p>na</p>"));
}

#[test]
fn a_fifty_megabyte_page_streams_without_being_held() {
    let mut page = PageRewriter::new(&ctx(&[]), AsciiCompatibleEncoding::utf_8());
    let row = format!("<div class=\"row\"><p>Regel met tekst</p>{GTAG}</div>\n");
    let chunk: String = row.repeat(64 * 1024 / row.len() + 1);
    let mut fed = 0usize;
    let mut emitted = 0usize;
    page.write(b"<html><head></head><body>");
    while fed < 50 * 1024 * 1024 {
        fed += chunk.len();
        emitted += page.write(chunk.as_bytes()).len();
        // What went in has come out, give or take one partly received tag.
        assert!(
            fed.saturating_sub(emitted) < 64 * 1024,
            "held {} bytes",
            fed - emitted
        );
    }
    emitted += page.end().len();
    assert!(emitted >= fed);
}

#[test]
fn windows_1252_bytes_come_out_unchanged() {
    let mut doc = b"<html><head><meta charset=\"windows-1252\"></head><body>caf".to_vec();
    doc.push(0xE9); // é in windows-1252
    doc.extend_from_slice(b" na\xEFef</body></html>");
    let encoding =
        AsciiCompatibleEncoding::new(encoding_rs::WINDOWS_1252).expect("ascii compatible");
    let mut page = PageRewriter::new(&ctx(&[]), encoding);
    let mut out = page.write(&doc);
    out.extend(page.end());
    let mut expected = b"<html><head>".to_vec();
    expected.extend_from_slice(LOADER.as_bytes());
    expected.extend_from_slice(&doc[12..]);
    assert_eq!(out, expected);
}
