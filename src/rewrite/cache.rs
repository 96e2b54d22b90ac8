//! Rewritten pages kept once per page version and consent class.
//!
//! Most visitors of a marketing page get the same bytes: the same upstream page, rewritten
//! for the same consent, in the same coding. The rewrite and the compression then run
//! once per page version instead of once per request. An entry holds the upstream body it
//! was made from (its version) and is served only when the upstream sends exactly those
//! bytes again — compared byte for byte as they arrive, so a changed upstream page is
//! never answered with an old rewrite (invalidation is exact, not a time-to-live) and a
//! repeated page is never held whole in memory. A new version replaces the old one. What
//! else the bytes depend on is the key, all of it:
//!
//! - the site and the page's own URL without its query (relative URLs resolve against
//!   it; `?utm_source=…` does not change the page, and leaving it out keeps campaign links
//!   from filling the cache with one-time entries);
//! - the upstream's coding and charset;
//! - the consent class ([`Class`]): what the injected loader says, which holds nothing
//!   personal (the visitor's consent id is fetched by the preference centre, never put
//!   in a page);
//! - the coding the visitor gets.
//!
//! The site's rules are not in the key: a configuration reload builds a new cache.
//!
//! When the upstream gave a page a strong validator (an `ETag`, or a `Last-Modified` date
//! old enough to be strong), the cache also keeps that version's response head and body
//! ([`Version`]), so the next request for the page can ask the upstream `If-None-Match` or
//! `If-Modified-Since` and, on `304 Not Modified`, take the body from here instead of
//! reading it again (what nginx's `proxy_cache_revalidate` does; `proxy::revalidate`).
//! Responses that pass through untouched (JSON, images, downloads) are kept the same way,
//! as versions only (`proxy::keep`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use quick_cache::sync::Cache;

use super::html::Counts;
use crate::catalog::CategorySet;
use crate::coding::Coding;
use crate::config::Language;
use crate::consent::ConsentState;

/// What the page's rewrite knows about the visitor: the categories granted, whether they
/// decided, whether Global Privacy Control refused some, and the banner's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Class {
    granted: CategorySet,
    decided: bool,
    gpc: bool,
    language: Option<Language>,
}

impl Class {
    /// The class of a visitor. Their consent id and date are not part of it: the loader
    /// never puts them in a page (the preference centre fetches them).
    pub fn of(consent: &ConsentState, language: Option<Language>) -> Class {
        Class {
            granted: consent.granted(),
            decided: consent.is_decided(),
            gpc: consent.gpc(),
            language,
        }
    }
}

/// Everything a rewritten page's bytes depend on (beyond the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub site: Arc<str>,
    /// `scheme://host[:port]/path`, without the query.
    pub page: Box<str>,
    pub upstream: Coding,
    pub charset: &'static str,
    pub class: Class,
    pub visitor: Coding,
}

/// A kept page: the upstream body it was made from, its bytes as sent, and what its
/// rewrite neutralised (proof of enforcement is counted for every response, served from
/// the cache or not).
#[derive(Debug, Clone)]
pub struct Page {
    pub source: Bytes,
    pub body: Bytes,
    pub counts: Counts,
}

/// Which version of a resource the upstream last sent with a strong validator: the site,
/// its URL *with* the query, and the `Accept-Encoding` the proxy asked the upstream with (a
/// representation in another coding is another version). The query is part of it unlike
/// in [`Key`]: an `ETag` tells representations of one resource apart (RFC 9110 §8.8.3), and
/// `?id=1` and `?id=2` are two resources that may carry the same tag with other bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionKey {
    pub site: Arc<str>,
    pub page: Box<str>,
    pub accept_encoding: http::HeaderValue,
}

/// What identifies a kept version to the upstream, and so how it is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validator {
    /// A strong `ETag`, asked with `If-None-Match` (RFC 9110 §13.1.2).
    Tag(http::HeaderValue),
    /// From an origin that sends no `ETag` at all: a `Last-Modified` date that is
    /// implicitly strong (RFC 9110 §8.8.2.2), asked with `If-Modified-Since` (§13.1.3).
    Modified(http::HeaderValue),
    /// A weak `ETag`, asked with `If-None-Match` as well (its comparison is weak, RFC 9110
    /// §13.1.2): kept for passthrough responses only, never as a page's version, whose
    /// rewrite must be invalidated by the bytes themselves.
    WeakTag(http::HeaderValue),
}

impl Validator {
    pub fn is_weak(&self) -> bool {
        matches!(self, Validator::WeakTag(_))
    }
}

/// A page version as the upstream sent it: its strong validator, its response head, and
/// its body (the same bytes as the [`Page::source`] of the pages rewritten from it).
#[derive(Debug, Clone)]
pub struct Version {
    pub validator: Validator,
    pub headers: Arc<http::HeaderMap>,
    pub source: Bytes,
}

/// What an entry costs: its bytes and key, plus the bookkeeping around them.
#[derive(Debug, Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Page> for Weight {
    fn weight(&self, key: &Key, page: &Page) -> u64 {
        (page.source.len()
            + page.body.len()
            + key.page.len()
            + std::mem::size_of::<(Key, Page)>()
            + 64) as u64
    }
}

impl quick_cache::Weighter<VersionKey, Version> for Weight {
    fn weight(&self, key: &VersionKey, version: &Version) -> u64 {
        let head: usize = version
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        // The source is shared with the pages made from it; counted here as well, so the
        // cache's bound holds even when those pages are gone.
        (version.source.len()
            + head
            + key.page.len()
            + std::mem::size_of::<(VersionKey, Version)>()
            + 64) as u64
    }
}

/// The bounded cache: at most `capacity` bytes, least useful pages evicted first
/// (quick_cache's CLOCK-Pro, which also keeps one-hit wonders from flushing popular pages).
pub struct PageCache {
    pages: Cache<Key, Page, Weight>,
    /// Versions to revalidate with the upstream; a quarter of the capacity (a page's
    /// version is one per page, its rewrites one per consent class and coding; a
    /// passthrough response is a version only).
    versions: Cache<VersionKey, Version, Weight>,
    /// The largest upstream page body held to be kept; larger pages stream.
    max_page: usize,
    /// Bytes of passthrough responses being copied to be kept, and the most there may be
    /// (the versions' share of the capacity): many visitors starting the same download at
    /// once copy it a few times, not once each.
    filling: AtomicUsize,
    fill_budget: usize,
}

/// Bytes of the fill budget one copy holds, given back when it is dropped.
pub struct Reservation {
    cache: Arc<PageCache>,
    bytes: usize,
}

impl Reservation {
    pub fn cache(&self) -> &Arc<PageCache> {
        &self.cache
    }

    /// Holds `bytes` more, if the budget has room: for a copy whose length is learnt as
    /// it arrives.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let grown = self.cache.take_budget(bytes);
        if grown {
            self.bytes += bytes;
        }
        grown
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.cache.filling.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl PageCache {
    /// `None` when `capacity` is 0 (the cache is off).
    pub fn new(capacity: usize, max_page: usize) -> Option<PageCache> {
        if capacity == 0 {
            return None;
        }
        // quick_cache splits its capacity into shards (one lock each); an entry larger
        // than a shard is never kept, so every shard must hold two of the largest pages.
        let versions = capacity / 4;
        Some(PageCache {
            pages: bounded(capacity - versions, max_page)?,
            versions: bounded(versions, max_page)?,
            max_page,
            filling: AtomicUsize::new(0),
            fill_budget: versions,
        })
    }

    /// Room to copy a passthrough response of `bytes` to keep it, if the budget has it.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        self.take_budget(bytes).then(|| Reservation {
            cache: Arc::clone(self),
            bytes,
        })
    }

    /// Counts `bytes` more in copies, if the fill budget has room (given back by the
    /// [`Reservation`] holding them).
    fn take_budget(&self, bytes: usize) -> bool {
        self.filling
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|&n| n <= self.fill_budget)
            })
            .is_ok()
    }

    pub fn max_page(&self) -> usize {
        self.max_page
    }

    /// The page kept for `key`, whatever its version: the caller confirms the version by
    /// comparing [`Page::source`] with what the upstream sends.
    pub fn get(&self, key: &Key) -> Option<Page> {
        self.pages.get(key)
    }

    pub fn insert(&self, key: Key, page: Page) {
        self.pages.insert(key, page);
    }

    /// The version of a page last sent with a strong validator.
    pub fn version(&self, key: &VersionKey) -> Option<Version> {
        self.versions.get(key)
    }

    pub fn keep_version(&self, key: VersionKey, version: Version) {
        self.versions.insert(key, version);
    }

    /// Bytes held (the weight of every entry).
    pub fn bytes(&self) -> u64 {
        self.pages.weight() + self.versions.weight()
    }

    /// Rewritten pages held.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

/// One quick_cache of `capacity` bytes. It splits its capacity into shards (one lock each);
/// an entry larger than a shard is never kept, so every shard must hold two of the largest
/// pages.
fn bounded<K, V>(capacity: usize, max_page: usize) -> Option<Cache<K, V, Weight>>
where
    K: Eq + std::hash::Hash + Clone,
    V: Clone,
    Weight: quick_cache::Weighter<K, V>,
{
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let wanted = (capacity / max_page.max(1) / 2).clamp(1, cores * 4);
    let shards = 1 << wanted.ilog2();
    let options = quick_cache::OptionsBuilder::new()
        // Sizes quick_cache's tables; a typical page is ~16 KiB.
        .estimated_items_capacity((capacity / (16 * 1024)).max(16))
        .weight_capacity(capacity as u64)
        .shards(shards)
        .build()
        .ok()?;
    Some(Cache::with_options(
        options,
        Weight,
        quick_cache::DefaultHashBuilder::default(),
        quick_cache::sync::DefaultLifecycle::default(),
    ))
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("pages", &self.pages.len())
            .field("bytes", &self.pages.weight())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Category;

    fn key(page: &str, class: Class) -> Key {
        Key {
            site: Arc::from("shop"),
            page: Box::from(page),
            upstream: Coding::Identity,
            charset: "UTF-8",
            class,
            visitor: Coding::Gzip,
        }
    }

    fn page(source: &'static [u8], body: &'static [u8]) -> Page {
        Page {
            source: Bytes::from_static(source),
            body: Bytes::from_static(body),
            counts: Counts::default(),
        }
    }

    #[test]
    fn classes_keep_apart_what_the_loader_says() {
        let undecided = Class::of(&ConsentState::undecided(), None);
        let granted = Class::of(
            &ConsentState::decided(CategorySet::from_iter([Category::Analytics])),
            None,
        );
        let dutch = Class::of(&ConsentState::undecided(), Some(Language::Nl));
        assert_ne!(undecided, granted);
        assert_ne!(undecided, dutch);
        let cache = PageCache::new(1 << 20, 1 << 16).expect("on");
        let home = "https://shop.example/";
        cache.insert(key(home, undecided), page(b"v1", b"for the undecided"));
        assert!(cache.get(&key(home, granted)).is_none());
        assert!(cache.get(&key(home, dutch)).is_none());
        assert!(
            cache
                .get(&key("https://shop.example/prijzen", undecided))
                .is_none()
        );
        let kept = cache.get(&key(home, undecided)).expect("kept");
        assert_eq!(kept.body, Bytes::from_static(b"for the undecided"));
        assert_eq!(kept.source, Bytes::from_static(b"v1"));
        // A new version replaces the old one.
        cache.insert(key(home, undecided), page(b"v2", b"v2 for the undecided"));
        assert_eq!(
            cache.get(&key(home, undecided)).expect("kept").source,
            Bytes::from_static(b"v2")
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = PageCache::new(64 * 1024, 16 * 1024).expect("on");
        let class = Class::of(&ConsentState::undecided(), None);
        static BODY: [u8; 4096] = [b'x'; 4096];
        for i in 0..200u32 {
            cache.insert(
                key(&format!("https://shop.example/{i}"), class),
                page(b"", &BODY),
            );
        }
        assert!(cache.bytes() <= 64 * 1024, "{} bytes held", cache.bytes());
        assert!(cache.len() >= 8, "{} pages held", cache.len());
        assert!(PageCache::new(0, 1).is_none(), "0 turns the cache off");
    }
}
