//! The other ways a page fetches from a tracker, beyond scripts, frames, pixels and hints
//! (`html`): `<embed>`, `<object data>`, `<input type=image>`, media and their `<source>`,
//! `srcset` candidates, CSS `url()` in `style` attributes and `<style>` elements, the
//! page's `<base href>` (which moves every relative URL), and cookies set by
//! `<meta http-equiv="set-cookie">` (ePrivacy art. 5(3): nothing stored before consent).

use std::sync::Arc;

use lol_html::html_content::ContentType;

use super::html::{Handler, Kind, PageContext, Shared, lock, refused};
use super::{css, urls};
use crate::catalog::Rules;
use crate::consent::ConsentState;

pub(super) fn handlers(ctx: &PageContext, state: &Shared) -> Vec<Handler> {
    let (rules, consent) = (&ctx.rules, ctx.consent);
    let mut handlers = Vec::with_capacity(6);

    // The first <base href> sets the base URL of everything after it (HTML §4.2.3).
    {
        let state = Arc::clone(state);
        handlers.push(on_element!("base[href]", move |el| {
            let mut state = lock(&state);
            if !state.base_set
                && let Some(href) = el.get_attribute("href")
            {
                state.base_set = true;
                let decoded = urls::decode_references(&href);
                let base = match &state.base {
                    Some(page) => page.join(decoded.trim()).ok(),
                    None => url::Url::parse(decoded.trim()).ok(),
                };
                if base.is_some() {
                    state.base = base;
                }
            }
            Ok(())
        }));
    }

    // Elements that fetch a URL of their own: removed when it is a refused tracker's.
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        handlers.push(on_element!(
            "embed[src], object[data], input[src], source[src], video[src], video[poster], audio[src], track[src]",
            move |el| {
                for attr in ["src", "data", "poster"] {
                    if let Some(url) = el.get_attribute(attr)
                        && let Some(t) = refused(&rules, consent, &state, &url)
                    {
                        el.remove();
                        let kind = if matches!(el.tag_name().as_str(), "embed" | "object") {
                            Kind::Iframe
                        } else {
                            Kind::Pixel
                        };
                        lock(&state).counts.add(kind, t.category);
                        return Ok(());
                    }
                }
                Ok(())
            }
        ));
    }

    // `srcset` candidates: a refused tracker's candidate takes the whole attribute away
    // (the browser picks any candidate it likes).
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        handlers.push(on_element!("img[srcset], source[srcset]", move |el| {
            if let Some(srcset) = el.get_attribute("srcset")
                && let Some(t) =
                    urls::srcset_urls(&srcset).find_map(|u| refused(&rules, consent, &state, u))
            {
                let category = t.category;
                el.remove_attribute("srcset");
                lock(&state).counts.add(Kind::Pixel, category);
            }
            Ok(())
        }));
    }

    // CSS in `style` attributes: a refused tracker's `url(…)` becomes `none`.
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        handlers.push(on_element!("[style]", move |el| {
            let Some(style) = el.get_attribute("style") else {
                return Ok(());
            };
            if !css::may_have_urls(&style) {
                return Ok(());
            }
            let decoded = urls::decode_references(&style);
            if let Some(clean) = clean_css(&decoded, &rules, consent, &state) {
                el.set_attribute("style", &clean)?;
            }
            Ok(())
        }));
    }

    // <style> elements: held until their text ends (within the rewrite's memory budget;
    // past it the sheet is dropped, fail closed), then cleaned like style attributes.
    {
        let state = Arc::clone(state);
        handlers.push(on_element!("style", move |_| {
            lock(&state).style = Some(String::new());
            Ok(())
        }));
    }
    {
        let rules = Arc::clone(rules);
        let state = Arc::clone(state);
        let limit = ctx.memory_limit;
        handlers.push(on_text!("style", move |chunk| {
            let mut held = {
                let mut guard = lock(&state);
                let Some(mut css) = guard.style.take() else {
                    return Ok(());
                };
                if css.len() + chunk.as_str().len() > limit {
                    // Dropped: too large to judge whole.
                    chunk.remove();
                    guard.style = Some(String::new());
                    return Ok(());
                }
                css.push_str(chunk.as_str());
                css
            };
            chunk.remove();
            if !chunk.last_in_text_node() {
                lock(&state).style = Some(held);
                return Ok(());
            }
            if let Some(clean) = clean_css(&held, &rules, consent, &state) {
                held = clean;
            }
            chunk.before(&held, ContentType::Html);
            Ok(())
        }));
    }

    // <meta http-equiv="set-cookie">: a cookie set by markup, before any consent. Modern
    // browsers ignore it; older ones would not, so it never reaches them.
    handlers.push(on_element!("meta[http-equiv]", |el| {
        let is_cookie = el
            .get_attribute("http-equiv")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("set-cookie"));
        if is_cookie {
            el.remove();
        }
        Ok(())
    }));
    handlers
}

/// `css` with every refused tracker's URL made inert (`url(…)` → `none`, a string → an
/// empty `data:` URL; `css.rs`); `None` when nothing had to change. Each replacement is counted as a pixel.
fn clean_css(css: &str, rules: &Rules, consent: ConsentState, state: &Shared) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    for found in css::urls(css) {
        if let Some(t) = refused(rules, consent, state, &found.url) {
            let category = t.category;
            out.push_str(&css[last..found.range.start]);
            out.push_str(found.form.inert());
            last = found.range.end;
            lock(state).counts.add(Kind::Pixel, category);
        }
    }
    if last == 0 {
        return None;
    }
    out.push_str(&css[last..]);
    Some(out)
}
