//! A rewritten page on its way to the visitor: from the page cache when this version of the
//! page was already rewritten for this consent class and coding, else rewritten and, when it
//! is small enough, kept for the next visitor of the same class.
//!
//! To know a page's version its whole body must have arrived, so a page that may be kept
//! is read from the upstream before its head is answered (as nginx's `proxy_buffering`
//! does): compared with the kept version as it comes, held only once it differs, and past
//! `page_cache_page_bytes` streamed from what is held on.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use http_body_util::BodyExt;

use crate::body::{BoxError, ProxyBody};
use crate::coding::Coding;
use crate::rewrite::body::{Report, RewriteBody};
use crate::rewrite::cache::{Class, Key, Page, PageCache};
use crate::rewrite::html::{Counts, PageContext};
use crate::telemetry::page_cache::PageCacheMetrics;

/// How the page is rewritten: the codings and charset `rewrite::decide` chose.
#[derive(Clone, Copy)]
pub(super) struct Plan {
    pub upstream: Coding,
    pub visitor: Coding,
    pub charset: lol_html::AsciiCompatibleEncoding,
}

/// Where the page may be kept: the cache and the parts of its key known before the body.
pub(super) struct Slot<'a> {
    pub cache: &'a Arc<PageCache>,
    pub metrics: &'a PageCacheMetrics,
    pub site: &'a Arc<str>,
    /// `scheme://host[:port]/path`.
    pub page: String,
    pub class: Option<Class>,
    /// The upstream's `Content-Length`, when it sent one.
    pub length: Option<u64>,
    /// This response's version, to keep for revalidation once its body is whole.
    pub version: Option<super::revalidate::ToKeep>,
    /// The body of the kept version the upstream confirmed with a 304 (shared, not copied,
    /// by the pages rewritten from it).
    pub kept_source: Option<Bytes>,
}

/// The page's body for the visitor. `Err` when the upstream body failed before anything
/// was sent (the visitor gets an error page instead of a cut-off one).
pub(super) async fn body<B>(
    upstream: B,
    plan: Plan,
    // Built only when the page is rewritten: a page from the cache needs no loader, no
    // base URL.
    ctx: impl FnOnce() -> PageContext,
    report: Report,
    slot: Option<Slot<'_>>,
) -> Result<ProxyBody, BoxError>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    // Kept only with a class (no per-response nonce) and a length within the bound.
    let keepable = slot.and_then(|slot| match slot.class {
        Some(class)
            if slot
                .length
                .is_none_or(|n| n <= slot.cache.max_page() as u64) =>
        {
            Some((slot, class))
        }
        _ => {
            slot.metrics.count(slot.site, "bypass");
            None
        }
    });
    let Some((slot, class)) = keepable else {
        return stream(
            Replay::new(VecDeque::new(), Some(upstream)),
            plan,
            &ctx(),
            report,
        );
    };
    let max = slot.cache.max_page();
    let charset: &'static encoding_rs::Encoding = plan.charset.into();
    let key = Key {
        site: Arc::clone(slot.site),
        page: slot.page.into_boxed_str(),
        upstream: plan.upstream,
        charset: charset.name(),
        class,
        visitor: plan.visitor,
    };
    let version = slot.version;
    let parts = match hold(upstream, max, slot.cache.get(&key)).await? {
        Held::Same(page) => {
            slot.metrics.count(slot.site, "hit");
            if let Some(version) = version {
                version.keep(slot.cache, page.source.clone());
            }
            report(page.counts);
            return Ok(crate::body::full(page.body));
        }
        Held::Whole(parts) => parts,
        Held::Partial(parts, rest) => {
            slot.metrics.count(slot.site, "bypass");
            return stream(Replay::new(parts, Some(rest)), plan, &ctx(), report);
        }
    };
    // Another request may have kept this very version while this one was reading.
    if let Some(page) = slot.cache.get(&key)
        && same_bytes(&page.source, &parts)
    {
        slot.metrics.count(slot.site, "hit");
        if let Some(version) = version {
            version.keep(slot.cache, page.source.clone());
        }
        report(page.counts);
        return Ok(crate::body::full(page.body));
    }
    let ctx = ctx();
    // The page is all in hand: rewritten at once, not at the pace of this visitor's
    // connection, so the next visitors get it from the cache as soon as possible.
    let Some((body, counts)) = rewrite_now(&parts, plan, &ctx, max.saturating_mul(2))? else {
        // It grew past the bound as it decoded: streamed like a large page, never kept.
        slot.metrics.count(slot.site, "bypass");
        return stream(Replay::<B>::new(parts, None), plan, &ctx, report);
    };
    slot.metrics.count(slot.site, "miss");
    report(counts);
    // Copied: a part may be a slice of a much larger read buffer the entry would pin.
    // A part that is already the whole page (a kept version's body) is shared instead.
    let source = match slot.kept_source {
        Some(kept) if same_bytes(&kept, &parts) => kept,
        _ => Bytes::from(parts.concat()),
    };
    if let Some(version) = version {
        version.keep(slot.cache, source.clone());
    }
    let page = Page {
        source,
        body: body.clone(),
        counts,
    };
    slot.cache.insert(key, page);
    slot.metrics.held(slot.cache.bytes(), slot.cache.len());
    Ok(crate::body::full(body))
}

/// Rewrites a page whose body is all in hand, in one go: its bytes for the visitor and
/// what was neutralised; `None` when the output grows past `limit` bytes.
fn rewrite_now(
    parts: &[Bytes],
    plan: Plan,
    ctx: &PageContext,
    limit: usize,
) -> Result<Option<(Bytes, Counts)>, BoxError> {
    let input = Replay::<http_body_util::Empty<Bytes>>::new(parts.to_vec(), None);
    // Counted by the caller once the page is whole (nothing is counted twice when the
    // page has to stream after all).
    let uncounted: Report = Box::new(|_| {});
    let mut body = RewriteBody::new(
        input,
        plan.upstream,
        plan.visitor,
        plan.charset,
        ctx,
        uncounted,
    )?;
    let mut out = BytesMut::new();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > limit {
                        return Ok(None);
                    }
                    out.extend_from_slice(&data);
                }
            }
            Poll::Ready(Some(Err(e))) => return Err(e),
            Poll::Ready(None) => break,
            // Every frame of the input is ready; a rewrite that waits is a bug, answered
            // as an error page rather than a hang.
            Poll::Pending => return Err("the page rewrite waited on a body in hand".into()),
        }
    }
    Ok(Some((out.freeze(), body.counts().unwrap_or_default())))
}

/// Whether `parts`, joined, are `whole`.
fn same_bytes(whole: &[u8], parts: &[Bytes]) -> bool {
    let mut rest = whole;
    for part in parts {
        match rest.split_at_checked(part.len()) {
            Some((head, tail)) if head == &part[..] => rest = tail,
            _ => return false,
        }
    }
    rest.is_empty()
}

/// The page rewritten as it streams, nothing kept.
fn stream<B>(
    upstream: Replay<B>,
    plan: Plan,
    ctx: &PageContext,
    report: Report,
) -> Result<ProxyBody, BoxError>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    Ok(RewriteBody::new(
        upstream,
        plan.upstream,
        plan.visitor,
        plan.charset,
        ctx,
        report,
    )?
    .boxed_unsync())
}

enum Held<B> {
    /// The body is, byte for byte, the source of the kept page (nothing was held).
    Same(Page),
    /// The whole body, within the bound.
    Whole(Vec<Bytes>),
    /// The body grew past the bound: what was read, and the rest still to come.
    Partial(Vec<Bytes>, B),
}

/// Reads the upstream body until it ends or passes `max` bytes. While it matches the
/// source of the kept page nothing is held: a repeated page costs a comparison, not
/// its size in memory. Once it differs, the matched prefix is taken from `known`.
async fn hold<B>(mut body: B, max: usize, kept: Option<Page>) -> Result<Held<B>, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let known = kept.as_ref().map(|page| &page.source);
    let mut parts = Vec::new();
    let mut len = 0usize;
    // How much of `known` the body has matched; `None` once it differs.
    let mut matched = known.map(|_| 0usize);
    while let Some(frame) = body.frame().await {
        // Trailers of the upstream body describe the old bytes; they are dropped.
        let Ok(data) = frame.map_err(Into::into)?.into_data() else {
            continue;
        };
        len += data.len();
        if let (Some(at), Some(known)) = (matched, known) {
            if known.get(at..at + data.len()) == Some(&data[..]) {
                matched = Some(at + data.len());
                continue;
            }
            matched = None;
            if at > 0 {
                parts.push(known.slice(..at));
            }
        }
        parts.push(data);
        if len > max {
            return Ok(Held::Partial(parts, body));
        }
    }
    match (matched, kept) {
        (Some(at), Some(page)) if at == page.source.len() => Ok(Held::Same(page)),
        // A shorter new version: all of it matched the old one's start.
        (Some(at), Some(page)) => Ok(Held::Whole(vec![page.source.slice(..at)])),
        _ => Ok(Held::Whole(parts)),
    }
}

/// What was read ahead, then the rest of the upstream body.
struct Replay<B> {
    held: VecDeque<Bytes>,
    rest: Option<B>,
}

impl<B> Replay<B> {
    fn new(held: impl Into<VecDeque<Bytes>>, rest: Option<B>) -> Replay<B> {
        Replay {
            held: held.into(),
            rest,
        }
    }
}

impl<B> Body for Replay<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(data) = self.held.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match self.rest.as_mut() {
            None => Poll::Ready(None),
            Some(rest) => Pin::new(rest)
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map_err(Into::into))),
        }
    }
}

/// `scheme://host[:port]/path?query`: a resource as its `ETag` names it (the key of its
/// kept version, `rewrite::cache::VersionKey`).
pub(super) fn resource_url(origin: &str, uri: &http::Uri) -> String {
    [
        origin,
        uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
    ]
    .concat()
}

/// The page a URL names, as the page cache keys it: `scheme://host[:port]/path`, without
/// the query (campaign parameters do not make another page).
pub(super) fn page_url(origin: &str, uri: &http::Uri) -> String {
    [origin, uri.path()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that arrives in these frames.
    fn frames(parts: &[&'static str]) -> Replay<http_body_util::Empty<Bytes>> {
        Replay::new(
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect::<VecDeque<_>>(),
            None,
        )
    }

    fn kept(source: &'static str) -> Option<Page> {
        Some(Page {
            source: Bytes::from_static(source.as_bytes()),
            body: Bytes::from_static(b"rewritten"),
            counts: Counts::default(),
        })
    }

    async fn joined(parts: &[&'static str], known: &'static str, max: usize) -> Option<String> {
        match hold(frames(parts), max, kept(known)).await.expect("a body") {
            Held::Same(_) => None,
            Held::Whole(parts) => Some(String::from_utf8(parts.concat()).expect("utf-8")),
            Held::Partial(..) => Some("(partial)".to_owned()),
        }
    }

    #[tokio::test]
    async fn only_the_very_same_bytes_are_the_kept_version() {
        assert_eq!(joined(&["ab", "cd", "ef"], "abcdef", 64).await, None);
        assert_eq!(joined(&["abcdef"], "abcdef", 64).await, None);
        for (parts, body) in [
            (&["ab", "cX", "ef"][..], "abcXef"),
            (&["ab", "cd"][..], "abcd"),
            (&["ab", "cd", "ef", "g"][..], "abcdefg"),
            (&["X"][..], "X"),
            (&[][..], ""),
        ] {
            assert_eq!(
                joined(parts, "abcdef", 64).await.as_deref(),
                Some(body),
                "{parts:?}"
            );
        }
        assert_eq!(
            joined(&["ab", "cX", "ef"], "abcdef", 4).await.as_deref(),
            Some("(partial)")
        );
        let fresh = hold(frames(&["ab", "cd"]), 64, None).await.expect("a body");
        assert!(matches!(fresh, Held::Whole(parts) if parts.concat() == b"abcd"));
    }
}
