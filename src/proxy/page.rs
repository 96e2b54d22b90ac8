//! A rewritten page on its way to the visitor: from the page cache when this version of the
//! page was already rewritten for this consent class and coding, else rewritten as it
//! streams and, when it is small enough, kept for the next visitor of the same class.
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
use crate::rewrite::html::PageContext;
use crate::telemetry::page_cache::PageCacheMetrics;

/// How the page is rewritten: the codings and charset `rewrite::decide` chose.
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
    let Some(slot) = slot else {
        return stream(
            Replay::new(VecDeque::new(), Some(upstream)),
            plan,
            &ctx(),
            report,
        );
    };
    let max = slot.cache.max_page();
    let class = match slot.class {
        Some(class) if slot.length.is_none_or(|n| n <= max as u64) => class,
        _ => {
            slot.metrics.count(slot.site, "bypass");
            return stream(
                Replay::new(VecDeque::new(), Some(upstream)),
                plan,
                &ctx(),
                report,
            );
        }
    };
    let charset: &'static encoding_rs::Encoding = plan.charset.into();
    let key = Key {
        site: Arc::clone(slot.site),
        page: slot.page.into_boxed_str(),
        upstream: plan.upstream,
        charset: charset.name(),
        class,
        visitor: plan.visitor,
    };
    let parts = match hold(upstream, max, slot.cache.get(&key)).await? {
        Held::Same(page) => {
            slot.metrics.count(slot.site, "hit");
            report(page.counts);
            return Ok(crate::body::full(page.body));
        }
        Held::Whole(parts) => parts,
        Held::Partial(parts, rest) => {
            slot.metrics.count(slot.site, "bypass");
            return stream(Replay::new(parts, Some(rest)), plan, &ctx(), report);
        }
    };
    slot.metrics.count(slot.site, "miss");
    // Copied: a part may be a slice of a much larger read buffer the entry would pin.
    let source = Bytes::from(parts.concat());
    let rewritten = RewriteBody::new(
        Replay::<B>::new(parts, None),
        plan.upstream,
        plan.visitor,
        plan.charset,
        &ctx(),
        report,
    )?;
    Ok(Keep {
        inner: rewritten,
        out: BytesMut::new(),
        limit: max.saturating_mul(2),
        slot: Some(Pending {
            cache: Arc::clone(slot.cache),
            key,
            source,
            metrics: slot.metrics.clone(),
        }),
    }
    .boxed_unsync())
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

/// The rewritten page on its way out, its bytes kept and offered to the cache when the
/// whole page went through without an error.
struct Keep<B> {
    inner: RewriteBody<Replay<B>>,
    out: BytesMut,
    /// Past this many output bytes nothing is kept.
    limit: usize,
    slot: Option<Pending>,
}

/// Where a page being rewritten will be kept, and what it is made from.
struct Pending {
    cache: Arc<PageCache>,
    key: Key,
    source: Bytes,
    metrics: PageCacheMetrics,
}

impl<B> Body for Keep<B>
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
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if this.out.len() + data.len() > this.limit {
                        this.slot = None;
                        this.out = BytesMut::new();
                    } else if this.slot.is_some() {
                        this.out.extend_from_slice(data);
                    }
                }
            }
            // A page cut off (a broken or bomb-like upstream body) is never kept.
            Poll::Ready(Some(Err(_))) => this.slot = None,
            Poll::Ready(None) => {
                if let (Some(pending), Some(counts)) = (this.slot.take(), this.inner.counts()) {
                    let Pending {
                        cache,
                        key,
                        source,
                        metrics,
                    } = pending;
                    let body = std::mem::take(&mut this.out).freeze();
                    cache.insert(
                        key,
                        Page {
                            source,
                            body,
                            counts,
                        },
                    );
                    metrics
                        .bytes
                        .set(i64::try_from(cache.bytes()).unwrap_or(i64::MAX));
                    metrics
                        .pages
                        .set(i64::try_from(cache.len()).unwrap_or(i64::MAX));
                }
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::html::Counts;

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
