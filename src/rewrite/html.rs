//! The streaming HTML rewrite (lol_html): the loader goes in first, and scripts, embeds,
//! pixels and hints of refused categories are neutralised before the page leaves the
//! proxy (ePrivacy art. 5(3), Tw art. 11.7a: nothing non-essential before consent).
//!
//! The page is never buffered whole: lol_html keeps only a partly received tag, and an
//! inline `<script>` is held until its end tag so its content can decide its category.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use lol_html::html_content::ContentType;
use lol_html::send::{HtmlRewriter, Settings};
use lol_html::{AsciiCompatibleEncoding, MemorySettings, end};

use super::element::{inert_start_tag, is_hidden, is_javascript, start_tag};
use super::prelude::{Opening, PRELUDE_LIMIT, Prelude, opening};
use crate::catalog::Category;
use crate::catalog::Rules;
use crate::config::Language;
use crate::consent::ConsentState;

/// What was neutralised on a page, for the proof-of-enforcement counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Indexed by `Kind as usize`, then by category order (`Category::ALL`).
    pub by_kind: [[u32; 4]; 5],
    /// The rewriter gave up on this page and the rest was disarmed (fail closed).
    pub failsafe: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Script = 0,
    InlineScript = 1,
    Iframe = 2,
    Pixel = 3,
    Hint = 4,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Script,
        Kind::InlineScript,
        Kind::Iframe,
        Kind::Pixel,
        Kind::Hint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Script => "script",
            Kind::InlineScript => "inline_script",
            Kind::Iframe => "iframe",
            Kind::Pixel => "pixel",
            Kind::Hint => "hint",
        }
    }
}

impl Counts {
    pub(super) fn add(&mut self, kind: Kind, category: Category) {
        self.by_kind[kind as usize][category as usize] += 1;
    }

    pub fn total(&self) -> u32 {
        self.by_kind.iter().flatten().sum()
    }
}

/// Everything a page's rewrite depends on.
#[derive(Clone)]
pub struct PageContext {
    pub rules: Arc<Rules>,
    pub consent: ConsentState,
    /// The loader HTML (built per response: it carries the consent state and nonce).
    pub loader: Arc<str>,
    pub language: Language,
    /// lol_html's memory budget; past it the rest of the page passes through as it is.
    pub memory_limit: usize,
    /// How much a compressed page may expand (decompression bombs are stopped past it).
    pub decompression_ratio: u32,
    /// The page's own URL, against which its relative URLs resolve.
    pub base: Option<url::Url>,
    /// `ga.mode = "server"`: the site's gtag.js for this measurement id is removed for
    /// every visitor (the proxy sends the events; Google's script never runs).
    pub gtag_id: Option<Arc<str>>,
}

/// Mutable state shared by one page's handlers.
#[derive(Default)]
pub(super) struct PageState {
    pub(super) counts: Counts,
    /// The page's base URL: the request's, or the page's first `<base href>`.
    pub(super) base: Option<url::Url>,
    /// A `<base href>` was seen (only the first one counts, HTML §4.2.3).
    pub(super) base_set: bool,
    /// A `<style>` element's text being held until it ends.
    pub(super) style: Option<String>,
    /// An inline script being held until its end tag: its start tag and text so far.
    inline: Option<(String, String)>,
    /// The content of a `<noscript>` being held until its end tag.
    pub(super) noscript: Option<String>,
    /// The `<noscript>` being held grew past the memory budget and is dropped.
    pub(super) noscript_dropped: bool,
}

pub(super) type Shared = Arc<Mutex<PageState>>;

pub(super) fn lock(state: &Shared) -> std::sync::MutexGuard<'_, PageState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where lol_html writes: a buffer the body takes from after every chunk.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl lol_html::OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(chunk);
    }
}

/// Rewrites one page, chunk by chunk.
pub struct PageRewriter {
    rewriter: Option<HtmlRewriter<'static, Sink>>,
    output: Arc<Mutex<Vec<u8>>>,
    state: Shared,
    injected: Arc<AtomicBool>,
    /// Everything granted and the loader in: nothing is left to rewrite, the rest passes
    /// through untouched.
    raw: bool,
    /// lol_html gave up (memory limit): the rest of the page is disarmed, never copied.
    failsafe: Option<super::failsafe::Failsafe>,
    /// Everything is granted: only the loader is added.
    all_granted: bool,
    /// The document's start, until its first tag is known; `None` once it is.
    prelude: Option<Prelude>,
    loader: Arc<str>,
}

impl PageRewriter {
    pub fn new(ctx: &PageContext, encoding: AsciiCompatibleEncoding) -> PageRewriter {
        let state: Shared = Arc::new(Mutex::new(PageState {
            base: ctx.base.clone(),
            ..PageState::default()
        }));
        let injected = Arc::new(AtomicBool::new(false));
        let output = Arc::new(Mutex::new(Vec::with_capacity(16 * 1024)));

        let mut handlers = injection_handlers(ctx, &injected);
        // A visitor who granted everything gets the page untouched but for the loader —
        // unless the site's own gtag.js must go for everyone (`ga.mode = "server"`).
        let all_granted =
            Category::ALL.iter().all(|c| ctx.consent.allows(*c)) && ctx.gtag_id.is_none();
        if !all_granted {
            handlers.extend(neutralising_handlers(ctx, &state));
            handlers.extend(super::resources::handlers(ctx, &state));
            handlers.extend(super::noscript::handlers(ctx, &state));
        }
        let loader = Arc::clone(&ctx.loader);
        let injected_at_end = Arc::clone(&injected);
        let sink = Sink(Arc::clone(&output));
        let mut settings = Settings::new_send()
            .with_encoding(encoding)
            .with_memory_settings(
                MemorySettings::new()
                    .with_max_allowed_memory_usage(ctx.memory_limit)
                    .with_graceful_bail_out_on_memory_limit_exceeded(true),
            )
            .with_strict(false)
            .with_adjust_charset_on_meta_tag(true)
            .append_document_content_handler(end!(move |end| {
                // A document with no element at all (text only, or empty): still exactly
                // one loader.
                if !injected_at_end.swap(true, Ordering::Relaxed) {
                    end.append(&loader, ContentType::Html);
                }
                Ok(())
            }));
        for (selector, handler) in handlers {
            settings = settings.append_element_content_handler((selector, handler));
        }
        PageRewriter {
            rewriter: Some(HtmlRewriter::new(settings, sink)),
            output,
            state,
            injected,
            raw: false,
            failsafe: None,
            all_granted,
            prelude: Some(Prelude::default()),
            loader: Arc::clone(&ctx.loader),
        }
    }

    /// Feeds a chunk; returns the output ready so far.
    pub fn write(&mut self, chunk: &[u8]) -> Vec<u8> {
        match self.prelude.as_mut() {
            None => self.feed(chunk),
            Some(prelude) => {
                prelude.held.extend_from_slice(chunk);
                match opening(&prelude.held) {
                    Opening::Unknown if prelude.held.len() < PRELUDE_LIMIT => Vec::new(),
                    Opening::Unknown => self.release_prelude(None),
                    Opening::Head(at) | Opening::Other(at) => self.release_prelude(Some(at)),
                }
            }
        }
    }

    /// Feeds what the prelude held, with the loader at `inject_at` when given.
    fn release_prelude(&mut self, inject_at: Option<usize>) -> Vec<u8> {
        let held = self.prelude.take().map(|p| p.held).unwrap_or_default();
        match inject_at {
            Some(at) if self.all_granted && !self.injected.swap(true, Ordering::Relaxed) => {
                // Nothing to neutralise: the page goes out as it came, plus the loader,
                // without being parsed at all.
                self.raw = true;
                self.rewriter = None;
                let mut out = Vec::with_capacity(held.len() + self.loader.len());
                out.extend_from_slice(&held[..at]);
                out.extend_from_slice(self.loader.as_bytes());
                out.extend_from_slice(&held[at..]);
                out
            }
            Some(at) if !self.injected.swap(true, Ordering::Relaxed) => {
                let mut out = self.feed(&held[..at]);
                let loader = Arc::clone(&self.loader);
                out.extend(self.feed(loader.as_bytes()));
                out.extend(self.feed(&held[at..]));
                out
            }
            _ => self.feed(&held),
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if let Some(failsafe) = self.failsafe.as_mut() {
            return failsafe.filter(chunk);
        }
        if self.raw {
            return chunk.to_vec();
        }
        if let Some(rewriter) = self.rewriter.as_mut()
            && let Err(e) = rewriter.write(chunk)
        {
            // lol_html has flushed what it held, raw, after what it rewrote: this chunk's
            // output and everything after it go through the fail-safe filter.
            tracing::warn!(error = %e, "HTML rewrite gave up; the rest of the page is disarmed (fail closed)");
            self.rewriter = None;
            lock(&self.state).counts.failsafe = true;
            let mut failsafe = super::failsafe::Failsafe::default();
            let out = failsafe.filter(&self.take_output());
            self.failsafe = Some(failsafe);
            return out;
        }
        self.take_output()
    }

    /// Ends the document; returns the last output.
    pub fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(prelude) = &self.prelude {
            // A short document: decide on what there is.
            let at = match opening(&prelude.held) {
                Opening::Unknown => None,
                Opening::Head(at) | Opening::Other(at) => Some(at),
            };
            out = self.release_prelude(at);
        }
        if let Some(rewriter) = self.rewriter.take()
            && let Err(e) = rewriter.end()
        {
            tracing::warn!(error = %e, "HTML rewrite failed at the end of the page; its tail is disarmed");
            lock(&self.state).counts.failsafe = true;
            let mut failsafe = super::failsafe::Failsafe::default();
            out.extend(failsafe.filter(&self.take_output()));
            out.extend(failsafe.end());
            return out;
        }
        out.extend(self.take_output());
        if let Some(failsafe) = self.failsafe.as_mut() {
            out.extend(failsafe.end());
        }
        out
    }

    /// Whether the rest of the page passes through unchanged (so a caller may skip
    /// [`PageRewriter::write`] and its copy).
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    pub fn counts(&self) -> Counts {
        lock(&self.state).counts
    }

    fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut *self.output.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

pub(super) type Handler = (
    std::borrow::Cow<'static, lol_html::Selector>,
    lol_html::send::ElementContentHandlers<'static>,
);

/// The [`Prelude`] normally injects (first in `<head>`, or before the first thing after
/// `<html>`, or at the start) and sets `injected`. This selector is the fallback when the
/// prelude gave up (a huge leading comment): the loader then goes first in `<head>`.
/// Exactly once either way.
///
/// One narrow selector rather than `*` or `html > *`: a handler on every element, or the
/// element stack a child combinator needs, costs a third of the rewriter's throughput
/// (measured with `benches/rewrite.rs`).
fn injection_handlers(ctx: &PageContext, injected: &Arc<AtomicBool>) -> Vec<Handler> {
    let injected = Arc::clone(injected);
    let loader = Arc::clone(&ctx.loader);
    vec![on_element!("head", move |el| {
        if !injected.swap(true, Ordering::Relaxed) {
            el.prepend(&loader, ContentType::Html);
        }
        Ok(())
    })]
}

/// The refused tracker a URL attribute value leads to, resolved as the browser will
/// resolve it (character references, backslashes, percent-encoding, dot segments, the
/// page's `<base>`).
pub(super) fn refused<'r>(
    rules: &'r Rules,
    consent: ConsentState,
    state: &Shared,
    raw: &str,
) -> Option<&'r crate::catalog::Tracker> {
    let url = {
        let state = lock(state);
        // Most URLs of a page are its own relative ones: they cannot be a tracker's.
        if !state.base_set && super::urls::is_plain_relative(raw) {
            return None;
        }
        super::urls::resolve(raw, state.base.as_ref())?.into_owned()
    };
    rules
        .match_url(&url)
        .filter(|t| !consent.allows(t.category))
}

/// Whether `raw` is Google's gtag.js for measurement id `id`.
fn is_gtag_of(state: &Shared, raw: &str, id: &str) -> bool {
    let resolved = {
        let state = lock(state);
        super::urls::resolve(raw, state.base.as_ref()).map(Cow::into_owned)
    };
    let Some(url) = resolved.and_then(|u| url::Url::parse(&u).ok()) else {
        return false;
    };
    url.host_str()
        .is_some_and(|h| h == "googletagmanager.com" || h.ends_with(".googletagmanager.com"))
        && url.path() == "/gtag/js"
        && url
            .query_pairs()
            .any(|(k, v)| k == "id" && v.eq_ignore_ascii_case(id))
}

fn neutralising_handlers(ctx: &PageContext, state: &Shared) -> Vec<Handler> {
    let (rules, consent) = (&ctx.rules, ctx.consent);
    let mut handlers = Vec::with_capacity(5);

    // <script src> of a refused tracker: made inert, the URL kept for re-activation.
    // <script> without src: held until its end tag, then judged by its content.
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        let gtag_id = ctx.gtag_id.clone();
        handlers.push(on_element!("script", move |el| {
            if let Some(src) = el.get_attribute("src") {
                if let Some(id) = &gtag_id
                    && is_gtag_of(&state, &src, id)
                {
                    el.remove();
                    lock(&state).counts.add(Kind::Script, Category::Analytics);
                    return Ok(());
                }
                if let Some(t) = refused(&rules, consent, &state, &src) {
                    if let Some(kind) = el.get_attribute("type") {
                        el.set_attribute("data-cp-type", &kind)?;
                    }
                    el.set_attribute("type", "text/plain")?;
                    el.set_attribute("data-cp-category", t.category.as_str())?;
                    el.set_attribute("data-cp-src", &src)?;
                    el.remove_attribute("src");
                    lock(&state).counts.add(Kind::Script, t.category);
                }
                return Ok(());
            }
            if !is_javascript(el.get_attribute("type").as_deref()) {
                return Ok(());
            }
            let start = start_tag(el);
            el.start_tag().remove();
            lock(&state).inline = Some((start, String::new()));
            let rules = Arc::clone(&rules);
            let state = Arc::clone(&state);
            if let Some(end_handlers) = el.end_tag_handlers() {
                end_handlers.push(Box::new(move |end| {
                    let Some((start, text)) = lock(&state).inline.take() else {
                        return Ok(());
                    };
                    let refused = rules
                        .match_inline(&text)
                        .filter(|t| !consent.allows(t.category))
                        .map(|t| t.category);
                    let start = match refused {
                        Some(category) => {
                            lock(&state).counts.add(Kind::InlineScript, category);
                            inert_start_tag(&start, category)
                        }
                        None => start,
                    };
                    end.before(&start, ContentType::Html);
                    end.before(&text, ContentType::Html);
                    Ok(())
                }));
            }
            Ok(())
        }));
    }
    {
        let state = Arc::clone(state);
        let rules = Arc::clone(rules);
        let limit = ctx.memory_limit;
        handlers.push(on_text!("script", move |chunk| {
            let mut state = lock(&state);
            let Some((_, text)) = state.inline.as_mut() else {
                return Ok(());
            };
            text.push_str(chunk.as_str());
            chunk.remove();
            if text.len() <= limit {
                return Ok(());
            }
            // Held no longer than the rewrite's memory budget: decide on what has come.
            // A signature seen decides; none seen means the script cannot be judged whole,
            // so it fails closed — inert under the strictest refused category, re-activated
            // if that is granted — and the rest of its text streams after it.
            let Some((start, text)) = state.inline.take() else {
                return Ok(());
            };
            let category = match rules.match_inline(&text) {
                Some(t) if consent.allows(t.category) => None,
                Some(t) => Some(t.category),
                None => Category::ALL
                    .iter()
                    .rev()
                    .copied()
                    .find(|c| !consent.allows(*c)),
            };
            let start = match category {
                Some(category) => {
                    state.counts.add(Kind::InlineScript, category);
                    inert_start_tag(&start, category)
                }
                None => start,
            };
            chunk.before(&start, ContentType::Html);
            chunk.before(&text, ContentType::Html);
            Ok(())
        }));
    }

    // <iframe> embeds: the URL moves to data-cp-src and a placeholder explains what
    // loading it would do; hidden tracking frames (GTM's noscript frame) are removed.
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        let language = ctx.language;
        handlers.push(on_element!("iframe[src], frame[src]", move |el| {
            let Some(src) = el.get_attribute("src") else {
                return Ok(());
            };
            let Some(t) = refused(&rules, consent, &state, &src) else {
                return Ok(());
            };
            if is_hidden(el) {
                el.remove();
                lock(&state).counts.add(Kind::Pixel, t.category);
                return Ok(());
            }
            el.set_attribute("data-cp-src", &src)?;
            el.remove_attribute("src");
            el.set_attribute("data-cp-category", t.category.as_str())?;
            if el.tag_name() == "iframe" {
                el.set_attribute(
                    "srcdoc",
                    &super::placeholder::placeholder(&t.name, t.category, language),
                )?;
            }
            lock(&state).counts.add(Kind::Iframe, t.category);
            Ok(())
        }));
    }

    // Tracking pixels, also inside <noscript>: removed.
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        handlers.push(on_element!("img[src]", move |el| {
            if let Some(src) = el.get_attribute("src")
                && let Some(t) = refused(&rules, consent, &state, &src)
            {
                el.remove();
                lock(&state).counts.add(Kind::Pixel, t.category);
            }
            Ok(())
        }));
    }

    // Resource hints to tracker hosts: a preconnect alone already tells the host we exist.
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        handlers.push(on_element!("link[href][rel]", move |el| {
            let rel = el
                .get_attribute("rel")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let is_hint = rel.split_ascii_whitespace().any(|r| {
                matches!(
                    r,
                    "preconnect" | "dns-prefetch" | "preload" | "prefetch" | "modulepreload"
                )
            });
            if is_hint
                && let Some(href) = el.get_attribute("href")
                && let Some(url) = {
                    let state = lock(&state);
                    super::urls::resolve(&href, state.base.as_ref()).map(Cow::into_owned)
                }
                && let Some(t) = rules.match_host(&url)
                && !consent.allows(t.category)
            {
                el.remove();
                lock(&state).counts.add(Kind::Hint, t.category);
            }
            Ok(())
        }));
    }
    handlers
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
