//! `<noscript>` content, held until its end tag (within the rewrite's memory budget) and
//! rewritten with the same rules: browsers without JavaScript render it.

use std::sync::Arc;

use lol_html::html_content::ContentType;

use super::html::{Handler, Kind, PageContext, Shared, lock};
use crate::catalog::{Category, Rules};
use crate::consent::ConsentState;

/// `<noscript>` content: with scripting on (as in every browser that runs the banner) the
/// HTML parser reads it as text, so lol_html does too. Browsers without JavaScript render it,
/// so it is held until `</noscript>` and its markup rewritten with the same rules.
pub(super) fn handlers(ctx: &PageContext, state: &Shared) -> Vec<Handler> {
    let mut handlers = Vec::with_capacity(2);
    {
        let rules = Arc::clone(&ctx.rules);
        let consent = ctx.consent;
        let state = Arc::clone(state);
        handlers.push(on_element!("noscript", move |el| {
            {
                let mut state = lock(&state);
                state.noscript = Some(String::new());
                state.noscript_dropped = false;
            }
            let rules = Arc::clone(&rules);
            let state = Arc::clone(&state);
            if let Some(end_handlers) = el.end_tag_handlers() {
                let handler: lol_html::send::EndTagHandler<'static> = Box::new(move |end| {
                    let Some(markup) = lock(&state).noscript.take() else {
                        return Ok(());
                    };
                    let (clean, removed) = sanitize_noscript(&markup, &rules, consent);
                    {
                        let mut state = lock(&state);
                        for category in removed {
                            state.counts.add(Kind::Pixel, category);
                        }
                    }
                    end.before(&clean, ContentType::Html);
                    Ok(())
                });
                end_handlers.push(handler);
            }
            Ok(())
        }));
    }
    {
        let state = Arc::clone(state);
        let limit = ctx.memory_limit;
        handlers.push(on_text!("noscript", move |chunk| {
            let mut guard = lock(&state);
            let state = &mut *guard;
            if let Some(markup) = state.noscript.as_mut() {
                chunk.remove();
                // Past the memory budget the fallback content is dropped (fail closed):
                // only browsers without JavaScript would ever show it.
                if markup.len() + chunk.as_str().len() > limit {
                    markup.clear();
                    state.noscript_dropped = true;
                } else if !state.noscript_dropped {
                    markup.push_str(chunk.as_str());
                }
            }
            Ok(())
        }));
    }
    handlers
}

/// Removes tracker images, frames, scripts and hints from `<noscript>` markup; returns the
/// rest and the categories of what was removed. Markup without a tracker URL comes back
/// unchanged, byte for byte.
fn sanitize_noscript(
    markup: &str,
    rules: &Rules,
    consent: ConsentState,
) -> (String, Vec<Category>) {
    let removed = std::cell::RefCell::new(Vec::new());
    let strip = |el: &mut lol_html::html_content::Element<'_, '_>, attr: &str| {
        if let Some(url) = el.get_attribute(attr)
            && let Some(url) = super::urls::resolve(&url, None)
            && let Some(t) = rules
                .match_url(&url)
                .filter(|t| !consent.allows(t.category))
        {
            removed.borrow_mut().push(t.category);
            el.remove();
        }
        Ok(())
    };
    let result = lol_html::rewrite_str(
        markup,
        lol_html::RewriteStrSettings::new()
            .append_element_content_handler(lol_html::element!(
                "img[src], iframe[src], frame[src], script[src], embed[src], input[src]",
                |el| strip(el, "src")
            ))
            .append_element_content_handler(lol_html::element!("object[data]", |el| strip(
                el, "data"
            )))
            .append_element_content_handler(lol_html::element!("link[href]", |el| strip(
                el, "href"
            ))),
    );
    let removed = removed.into_inner();
    match result {
        Ok(clean) => (clean, removed),
        // Unparseable as markup: nothing a browser would fetch from it either.
        Err(_) => (markup.to_owned(), Vec::new()),
    }
}
