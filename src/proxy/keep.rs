//! Responses that pass through untouched — a JSON document, an image, a script, a
//! download — kept as versions for revalidation when the upstream sent them with an `ETag`
//! (a weak one as well: an origin that compresses weakens its tags) or an old enough
//! `Last-Modified` date: the next request asks (`proxy::revalidate`), and a `304` is
//! answered from memory, shared by the requests queued behind it (`proxy::coalesce`). What
//! nginx's `proxy_cache` with `proxy_cache_revalidate` and `proxy_cache_lock` does for
//! static assets, without a time-to-live: every request still asks the upstream, so a
//! changed resource is never answered from memory.
//!
//! Nothing is held back: the bytes go to the visitor as they arrive (a large download gets
//! no extra latency) and a copy is made on the side, bounded twice — by
//! `page_cache_page_bytes` and by a budget over all copies in progress, so a thousand
//! visitors starting the same download at once copy it a few times, not a thousand. A
//! copy is kept only when the body is known to be whole: exactly its `Content-Length`, or
//! the last chunk of a chunked body (what an origin that compresses on the fly sends;
//! RFC 9112 §7.1) or the end of an HTTP/2 stream. A body ended by closing the connection
//! is never kept — a cut-short one would look the same — nor one that fails or ends short.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use super::revalidate::ToKeep;
use crate::rewrite::cache::{PageCache, Reservation};
use crate::telemetry::page_cache::PageCacheMetrics;

/// A passthrough response's body, copied on the side while it streams.
struct Keeping<B> {
    inner: B,
    fill: Option<Fill>,
}

/// How the end of an upstream body is known, and so when a copy of it is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// At its `Content-Length`.
    Length(u64),
    /// At its last chunk (RFC 9112 §7.1) or the end of its HTTP/2 stream: a connection
    /// lost before it is an error, not an end.
    Delimited,
}

impl End {
    /// `None`: ended by the connection's close (RFC 9112 §6.3, item 8), never kept.
    pub fn of(version: http::Version, headers: &http::HeaderMap) -> Option<End> {
        if let Some(length) = headers.get(http::header::CONTENT_LENGTH) {
            return length.to_str().ok()?.parse().ok().map(End::Length);
        }
        let chunked = headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.as_bytes().rsplit(|&b| b == b',').next())
            .is_some_and(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        (chunked || version >= http::Version::HTTP_2).then_some(End::Delimited)
    }

    pub fn length(self) -> Option<u64> {
        match self {
            End::Length(length) => Some(length),
            End::Delimited => None,
        }
    }
}

struct Fill {
    version: ToKeep,
    copy: BytesMut,
    /// `None` for a delimited body: its length is learnt as it arrives.
    length: Option<usize>,
    /// Holds the fill budget (and the cache) until the copy is kept or dropped.
    room: Reservation,
    metrics: PageCacheMetrics,
    site: Arc<str>,
}

/// Where a passthrough response may be kept.
pub struct Keeper<'a> {
    pub cache: &'a Arc<PageCache>,
    pub metrics: &'a PageCacheMetrics,
    pub site: &'a Arc<str>,
}

/// The body to send: `inner` copied on the side when `version` is worth keeping — its
/// end known, its length (if given) above 0 and within `page_cache_page_bytes`, and room
/// left in the fill budget — and `inner` itself otherwise, so a response that cannot be
/// kept streams without the copying wrapper.
pub fn body<B>(
    inner: B,
    keeper: Keeper<'_>,
    version: Option<ToKeep>,
    end: Option<End>,
) -> UnsyncBoxBody<Bytes, B::Error>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    match version.and_then(|version| Fill::start(keeper, version, end?)) {
        Some(fill) => Keeping {
            inner,
            fill: Some(fill),
        }
        .boxed_unsync(),
        None => inner.boxed_unsync(),
    }
}

impl Fill {
    fn start(keeper: Keeper<'_>, version: ToKeep, end: End) -> Option<Fill> {
        let length = match end {
            End::Length(length) => Some(usize::try_from(length).ok()?),
            End::Delimited => None,
        };
        if length.is_some_and(|n| n == 0 || n > keeper.cache.max_page()) {
            return None;
        }
        let Some(room) = keeper.cache.reserve(length.unwrap_or(0)) else {
            keeper.metrics.count_passthrough(keeper.site, "bypass");
            return None;
        };
        Some(Fill {
            version,
            copy: BytesMut::with_capacity(length.unwrap_or(0)),
            length,
            room,
            metrics: keeper.metrics.clone(),
            site: Arc::clone(keeper.site),
        })
    }

    /// Takes one data frame; `Some(self)` while the copy may still grow. `ended`: the body
    /// says no frame follows.
    fn take(mut self, data: &Bytes, ended: bool) -> Option<Fill> {
        let grown = self.copy.len() + data.len();
        match self.length {
            Some(length) if grown > length => return None,
            None if grown > self.room.cache().max_page() => return None,
            None if !self.room.grow(data.len()) => {
                self.metrics.count_passthrough(&self.site, "bypass");
                return None;
            }
            _ => {}
        }
        self.copy.extend_from_slice(data);
        match self.length {
            // Whole: kept now, not at the body's end (the server may never poll past the
            // frame that completes its `Content-Length`).
            Some(length) if self.copy.len() == length => self.keep(),
            None if ended => self.finish(),
            _ => return Some(self),
        }
        None
    }

    /// The end of a delimited body: the copy is whole (and kept if there is any).
    fn finish(self) {
        if self.length.is_none() && !self.copy.is_empty() {
            self.keep();
        }
    }

    fn keep(self) {
        let Fill {
            version,
            copy,
            room,
            metrics,
            site,
            ..
        } = self;
        version.keep(room.cache(), copy.freeze());
        metrics.count_passthrough(&site, "kept");
        metrics.held(room.cache().bytes(), room.cache().len());
    }
}

impl<B> Body for Keeping<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Pending => {}
            Poll::Ready(Some(Ok(frame))) => {
                this.fill = match (this.fill.take(), frame.data_ref()) {
                    (Some(fill), Some(data)) => fill.take(data, this.inner.is_end_stream()),
                    // Trailers: not a plain body.
                    _ => None,
                };
            }
            // The end: whole if delimited (a body with a length was kept at its length).
            Poll::Ready(None) => {
                if let Some(fill) = this.fill.take() {
                    fill.finish();
                }
            }
            // An error: never kept.
            Poll::Ready(Some(Err(_))) => this.fill = None,
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    use crate::rewrite::cache::{Validator, VersionKey};

    fn key() -> VersionKey {
        VersionKey {
            site: Arc::from("shop"),
            page: Box::from("https://shop.example/plans.json"),
            accept_encoding: HeaderValue::from_static("identity"),
        }
    }

    fn version() -> ToKeep {
        ToKeep {
            key: key(),
            validator: Validator::Tag(HeaderValue::from_static("\"v1\"")),
            headers: Arc::default(),
        }
    }

    type Frames = std::vec::IntoIter<Result<Frame<Bytes>, &'static str>>;

    /// A body of these frames, then an error if `fails`.
    fn body(
        parts: &[&str],
        fails: bool,
    ) -> http_body_util::StreamBody<futures_util::stream::Iter<Frames>> {
        let mut frames: Vec<Result<Frame<Bytes>, &'static str>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::copy_from_slice(p.as_bytes()))))
            .collect();
        if fails {
            frames.push(Err("reset"));
        }
        http_body_util::StreamBody::new(futures_util::stream::iter(frames))
    }

    async fn send(cache: &Arc<PageCache>, parts: &[&str], fails: bool, length: u64) -> Vec<u8> {
        send_ending(cache, parts, fails, End::Length(length)).await
    }

    async fn send_ending(cache: &Arc<PageCache>, parts: &[&str], fails: bool, end: End) -> Vec<u8> {
        let metrics = PageCacheMetrics::default();
        let site = Arc::from("shop");
        let keeper = Keeper {
            cache,
            metrics: &metrics,
            site: &site,
        };
        let mut out = Vec::new();
        let mut kept = super::body(body(parts, fails), keeper, Some(version()), Some(end));
        while let Some(frame) = kept.frame().await {
            match frame {
                Ok(frame) => out.extend_from_slice(frame.data_ref().expect("data")),
                Err(_) => break,
            }
        }
        out
    }

    fn cache() -> Arc<PageCache> {
        Arc::new(PageCache::new(1 << 20, 1 << 16).expect("on"))
    }

    #[tokio::test]
    async fn a_whole_body_streams_untouched_and_is_kept() {
        let cache = cache();
        let sent = send(&cache, &["{\"plans\":", "[1,2]}"], false, 15).await;
        assert_eq!(sent, b"{\"plans\":[1,2]}");
        let kept = cache.version(&key()).expect("kept");
        assert_eq!(kept.source, Bytes::from_static(b"{\"plans\":[1,2]}"));
        assert_eq!(
            kept.validator,
            Validator::Tag(HeaderValue::from_static("\"v1\""))
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_or_longer_than_said_is_never_kept() {
        let cache = cache();
        send(&cache, &["{\"plans\":"], true, 15).await;
        assert!(cache.version(&key()).is_none(), "failed mid-body");
        send(&cache, &["{\"plans\":"], false, 15).await;
        assert!(cache.version(&key()).is_none(), "ended short");
        send(&cache, &["{\"plans\":", "[1,2,3,4]}"], false, 15).await;
        assert!(cache.version(&key()).is_none(), "longer than its length");
        let sent = send(&cache, &["{\"plans\":"], true, 1 << 17).await;
        assert_eq!(
            sent, b"{\"plans\":",
            "past page_cache_page_bytes it only streams"
        );
        assert!(cache.version(&key()).is_none());
    }

    #[tokio::test]
    async fn a_chunked_body_is_kept_at_its_last_chunk_and_never_when_cut() {
        let cache = cache();
        send_ending(&cache, &["{\"plans\":", "[1,2]}"], true, End::Delimited).await;
        assert!(cache.version(&key()).is_none(), "failed mid-body");
        let large = "x".repeat(40_000);
        let sent = send_ending(&cache, &[&large, &large], false, End::Delimited).await;
        assert_eq!(
            sent.len(),
            80_000,
            "past page_cache_page_bytes it only streams"
        );
        assert!(cache.version(&key()).is_none());
        let sent = send_ending(&cache, &["{\"plans\":", "[1,2]}"], false, End::Delimited).await;
        assert_eq!(sent, b"{\"plans\":[1,2]}");
        let kept = cache.version(&key()).expect("kept at its end");
        assert_eq!(kept.source, Bytes::from_static(b"{\"plans\":[1,2]}"));
    }

    #[tokio::test]
    async fn a_chunked_copy_grows_only_within_the_budget() {
        let cache = cache();
        // 256 KiB budget: one held copy of 200 KiB leaves room for 56 KiB.
        let held = cache.reserve(200 * 1024).expect("room");
        let part = "y".repeat(30 * 1024);
        send_ending(&cache, &[&part, &part], false, End::Delimited).await;
        assert!(cache.version(&key()).is_none(), "grew past the budget");
        send_ending(&cache, &[&part], false, End::Delimited).await;
        assert!(cache.version(&key()).is_some(), "within it");
        drop(held);
        assert!(
            cache.reserve(256 * 1024).is_some(),
            "every copy gave back what it held"
        );
    }

    #[test]
    fn a_body_ended_by_the_connection_is_never_a_whole_one() {
        use http::{HeaderMap, Version};
        let with = |name: &'static str, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            headers
        };
        let h1 = Version::HTTP_11;
        assert_eq!(
            End::of(h1, &with("content-length", "15")),
            Some(End::Length(15))
        );
        assert_eq!(End::of(h1, &with("content-length", "x")), None);
        assert_eq!(
            End::of(h1, &with("transfer-encoding", "gzip, Chunked")),
            Some(End::Delimited)
        );
        assert_eq!(
            End::of(h1, &with("transfer-encoding", "chunked, gzip")),
            None
        );
        assert_eq!(End::of(h1, &HeaderMap::new()), None);
        assert_eq!(End::of(Version::HTTP_10, &HeaderMap::new()), None);
        assert_eq!(
            End::of(Version::HTTP_2, &HeaderMap::new()),
            Some(End::Delimited)
        );
    }

    #[tokio::test]
    async fn copies_in_progress_stay_within_the_budget() {
        // 1 MiB capacity: a quarter, 256 KiB, may be copied at once.
        let cache = cache();
        let held: Vec<Reservation> = (0..4)
            .map(|_| cache.reserve(64 * 1024).expect("room"))
            .collect();
        assert!(cache.reserve(1).is_none(), "the budget is spent");
        send(&cache, &["{}"], false, 2).await;
        assert!(
            cache.version(&key()).is_none(),
            "no room: streamed, not kept"
        );
        drop(held);
        send(&cache, &["{}"], false, 2).await;
        assert!(
            cache.version(&key()).is_some(),
            "room again once copies end"
        );
    }
}
