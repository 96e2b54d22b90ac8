//! Facts about one element and how a script element is made inert: its executable type,
//! its start tag as re-emitted, the inert form (`type="text/plain"` with its category,
//! re-activated by the banner when granted), and whether a frame is hidden.

use lol_html::html_content::Element;

use crate::catalog::Category;

/// Whether a `type` makes a script executable JavaScript (HTML §4.12.1.1); JSON-LD,
/// templates and already inert scripts are not touched.
pub(super) fn is_javascript(kind: Option<&str>) -> bool {
    let Some(kind) = kind else { return true };
    let kind = kind.trim().to_ascii_lowercase();
    let essence = kind.split(';').next().unwrap_or("").trim();
    matches!(
        essence,
        "" | "module"
            | "text/javascript"
            | "application/javascript"
            | "application/ecmascript"
            | "application/x-javascript"
            | "text/ecmascript"
            | "text/jscript"
    )
}

/// The start tag as it will be re-emitted (attributes in order, values escaped).
pub(super) fn start_tag(el: &Element<'_, '_, lol_html::send::SendHandlerTypes>) -> String {
    let mut tag = String::from("<script");
    for attr in el.attributes() {
        tag.push(' ');
        tag.push_str(&attr.name());
        let value = attr.value();
        if !value.is_empty() || attr.name() != "async" && attr.name() != "defer" {
            tag.push_str("=\"");
            tag.push_str(&super::inject::escape_attr(&value));
            tag.push('"');
        }
    }
    tag.push('>');
    tag
}

/// A start tag made inert: `type="text/plain"`, the category, the original type kept.
pub(super) fn inert_start_tag(start: &str, category: Category) -> String {
    let inner = start
        .strip_prefix("<script")
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or("");
    let (inner, original_type) = take_type(inner);
    let mut tag = String::with_capacity(start.len() + 64);
    tag.push_str("<script type=\"text/plain\" data-cp-category=\"");
    tag.push_str(category.as_str());
    tag.push('"');
    if let Some(t) = original_type {
        tag.push_str(" data-cp-type=\"");
        tag.push_str(&t);
        tag.push('"');
    }
    tag.push_str(&inner);
    tag.push('>');
    tag
}

/// Removes ` type="…"` from serialized attributes, returning what it was.
pub(super) fn take_type(attrs: &str) -> (String, Option<String>) {
    if let Some(i) = attrs.find(" type=\"") {
        let rest = &attrs[i + 7..];
        if let Some(end) = rest.find('"') {
            let value = rest[..end].to_owned();
            let mut out = attrs[..i].to_owned();
            out.push_str(&rest[end + 1..]);
            return (out, Some(value));
        }
    }
    (attrs.to_owned(), None)
}

pub(super) fn is_hidden(el: &Element<'_, '_, lol_html::send::SendHandlerTypes>) -> bool {
    let zero = |name: &str| {
        el.get_attribute(name)
            .is_some_and(|v| matches!(v.trim(), "0" | "0px" | "1" | "1px"))
    };
    let style = el
        .get_attribute("style")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace(' ', "");
    (zero("width") && zero("height"))
        || style.contains("display:none")
        || style.contains("visibility:hidden")
        || el.has_attribute("hidden")
}
