//! Where the loader goes: the start of a document is held until its first tag is known
//! (after comments, a doctype, a BOM and an optional `<html>`), so the loader lands first
//! in `<head>` without a selector on every element.

/// The start of a document up to its first tag after an optional `<html>`: comments,
/// doctype, whitespace, a BOM. The loader goes right after that tag when it is `<head>`,
/// else right before it, so it comes before any site element (HTML's parser puts it in
/// the implied `<head>`). It is fed through the rewriter like the page's own bytes.
#[derive(Default)]
pub(super) struct Prelude {
    pub(super) held: Vec<u8>,
}

/// What the start of a document shows.
pub(super) enum Opening {
    /// More bytes are needed to tell.
    Unknown,
    /// The first tag (after an optional `<html>`) is `<head>`, ending at this offset:
    /// inject right after it.
    Head(usize),
    /// Something else starts at this offset: inject there.
    Other(usize),
}

/// Held at most this long before giving up on the prelude (a huge leading comment); the
/// selectors and the end-of-document fallback still inject exactly once.
pub(super) const PRELUDE_LIMIT: usize = 16 * 1024;

pub(super) fn opening(bytes: &[u8]) -> Opening {
    let mut i = 0;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        i = 3;
    }
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let rest = &bytes[i..];
        if rest.len() < 6 {
            return Opening::Unknown;
        }
        if rest.starts_with(b"<!--") {
            match find(rest, b"-->") {
                Some(end) => i += end + 3,
                None => return Opening::Unknown,
            }
        } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            match rest.iter().position(|&b| b == b'>') {
                Some(end) => i += end + 1,
                None => return Opening::Unknown,
            }
        } else if is_tag(rest, b"<head") {
            return match tag_end(rest) {
                Some(end) => Opening::Head(i + end + 1),
                None => Opening::Unknown,
            };
        } else if is_tag(rest, b"<html") {
            // Step over <html …> (quoted attribute values may hold '>').
            match tag_end(rest) {
                Some(end) => i += end + 1,
                None => return Opening::Unknown,
            }
        } else {
            return Opening::Other(i);
        }
    }
}

fn is_tag(rest: &[u8], name: &[u8]) -> bool {
    rest.len() > name.len()
        && rest[..name.len()].eq_ignore_ascii_case(name)
        && matches!(
            rest[name.len()],
            b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'
        )
}

/// The offset of the `>` that closes the tag at the start of `rest`.
fn tag_end(rest: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in rest.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
