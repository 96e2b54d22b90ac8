//! Responses that pass through untouched — a JSON document, an image, a script, a
//! download — kept as versions for revalidation when the upstream sent them with a strong
//! `ETag`: the next request asks `If-None-Match` (`proxy::revalidate`), and a `304` is
//! answered from memory, shared by the requests queued behind it (`proxy::coalesce`). What
//! nginx's `proxy_cache` with `proxy_cache_revalidate` and `proxy_cache_lock` does for
//! static assets, without a time-to-live: every request still asks the upstream, so a
//! changed resource is never answered from memory.
//!
//! Nothing is held back: the bytes go to the visitor as they arrive (a large download gets
//! no extra latency) and a copy is made on the side, bounded twice — by the response's
//! `Content-Length` (at most `page_cache_page_bytes`) and by a budget over all copies in
//! progress, so a thousand visitors starting the same download at once copy it a few
//! times, not a thousand. A copy that does not end exactly at its `Content-Length` (an
//! error, a body cut short) is dropped, never kept.

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

struct Fill {
    version: ToKeep,
    copy: BytesMut,
    length: usize,
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
/// length known, above 0, within `page_cache_page_bytes`, and room left in the fill
/// budget — and `inner` itself otherwise, so a response that cannot be kept streams
/// without the copying wrapper.
pub fn body<B>(
    inner: B,
    keeper: Keeper<'_>,
    version: Option<ToKeep>,
    length: Option<u64>,
) -> UnsyncBoxBody<Bytes, B::Error>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    match version.and_then(|version| Fill::start(keeper, version, length?)) {
        Some(fill) => Keeping {
            inner,
            fill: Some(fill),
        }
        .boxed_unsync(),
        None => inner.boxed_unsync(),
    }
}

impl Fill {
    fn start(keeper: Keeper<'_>, version: ToKeep, length: u64) -> Option<Fill> {
        let length = usize::try_from(length).ok()?;
        if length == 0 || length > keeper.cache.max_page() {
            return None;
        }
        let Some(room) = keeper.cache.reserve(length) else {
            keeper.metrics.count_passthrough(keeper.site, "bypass");
            return None;
        };
        Some(Fill {
            version,
            copy: BytesMut::with_capacity(length),
            length,
            room,
            metrics: keeper.metrics.clone(),
            site: Arc::clone(keeper.site),
        })
    }

    /// Takes one data frame; `Some(self)` while the copy is still short of its length.
    fn take(mut self, data: &Bytes) -> Option<Fill> {
        if self.copy.len() + data.len() > self.length {
            return None;
        }
        self.copy.extend_from_slice(data);
        if self.copy.len() < self.length {
            return Some(self);
        }
        // Whole: kept now, not at the body's end (the server may never poll past the
        // frame that completes its `Content-Length`).
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
        None
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
                    (Some(fill), Some(data)) => fill.take(data),
                    // Trailers: not a plain body.
                    _ => None,
                };
            }
            // An error, or the end before the whole length: never kept.
            Poll::Ready(_) => this.fill = None,
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
        parts: &[&'static str],
        fails: bool,
    ) -> http_body_util::StreamBody<futures_util::stream::Iter<Frames>> {
        let mut frames: Vec<Result<Frame<Bytes>, &'static str>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        if fails {
            frames.push(Err("reset"));
        }
        http_body_util::StreamBody::new(futures_util::stream::iter(frames))
    }

    async fn send(
        cache: &Arc<PageCache>,
        parts: &[&'static str],
        fails: bool,
        length: u64,
    ) -> Vec<u8> {
        let metrics = PageCacheMetrics::default();
        let site = Arc::from("shop");
        let keeper = Keeper {
            cache,
            metrics: &metrics,
            site: &site,
        };
        let mut out = Vec::new();
        let mut kept = super::body(body(parts, fails), keeper, Some(version()), Some(length));
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
