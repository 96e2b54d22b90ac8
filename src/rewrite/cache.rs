//! Rewritten pages kept once per page version and consent class.
//!
//! Most visitors of a marketing page get the same bytes: the same upstream page, rewritten
//! for the same consent, in the same coding. The rewrite and the compression then run
//! once per page version instead of once per request. What the bytes depend on is the key,
//! all of it:
//!
//! - the site and the page's own URL without its query (relative URLs resolve against
//!   it; `?utm_source=…` does not change the page, and leaving it out keeps campaign links
//!   from filling the cache with one-time entries);
//! - the page's version: the upstream body's length and a seeded XXH3 digest of it, with
//!   its coding and charset. The digest only finds the entry: a hit is confirmed by
//!   comparing the body with the one the entry was made from, byte for byte, so a changed
//!   upstream body is never answered with an old rewrite (invalidation is exact, not a
//!   time-to-live), and a collision, by chance or crafted, costs a miss and nothing more;
//! - the consent class ([`Class`]): what the injected loader says, which holds nothing
//!   personal (the visitor's consent id is fetched by the preference centre, never put
//!   in a page);
//! - the coding the visitor gets.
//!
//! The site's rules are not in the key: a configuration reload builds a new cache.

use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;

use super::html::Counts;
use crate::catalog::CategorySet;
use crate::coding::Coding;
use crate::config::Language;
use crate::consent::ConsentState;

/// A page version: the upstream body's length and its XXH3-128 digest under the cache's
/// own random seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    len: usize,
    digest: u128,
}

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
    pub version: Version,
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

/// The bounded cache: at most `capacity` bytes, least useful pages evicted first
/// (quick_cache's CLOCK-Pro, which also keeps one-hit wonders from flushing popular pages).
pub struct PageCache {
    pages: Cache<Key, Page, Weight>,
    /// The largest upstream page body held to be kept; larger pages stream.
    max_page: usize,
    /// Seeds the digests, so nobody outside can compute which bodies share one.
    seed: u64,
}

impl PageCache {
    /// `None` when `capacity` is 0 (the cache is off).
    pub fn new(capacity: usize, max_page: usize) -> Option<PageCache> {
        if capacity == 0 {
            return None;
        }
        // quick_cache splits its capacity into shards (one lock each); an entry larger
        // than a shard is never kept, so every shard must hold two of the largest pages.
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
        Some(PageCache {
            pages: Cache::with_options(
                options,
                Weight,
                quick_cache::DefaultHashBuilder::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
            max_page,
            seed: std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0u8),
        })
    }

    pub fn max_page(&self) -> usize {
        self.max_page
    }

    /// The version of an upstream body, as it arrived in parts.
    pub fn version(&self, parts: &[Bytes]) -> Version {
        let mut hasher = xxhash_rust::xxh3::Xxh3::with_seed(self.seed);
        let mut len = 0;
        for part in parts {
            hasher.update(part);
            len += part.len();
        }
        Version {
            len,
            digest: hasher.digest128(),
        }
    }

    /// The page kept for `key`, if it was made from exactly these upstream bytes.
    pub fn get(&self, key: &Key, parts: &[Bytes]) -> Option<Page> {
        let page = self.pages.get(key)?;
        same_bytes(&page.source, parts).then_some(page)
    }

    pub fn insert(&self, key: Key, page: Page) {
        self.pages.insert(key, page);
    }

    /// Bytes held (the weight of every entry).
    pub fn bytes(&self) -> u64 {
        self.pages.weight()
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
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

    fn key(cache: &PageCache, source: &'static [u8], class: Class) -> Key {
        Key {
            site: Arc::from("shop"),
            page: Box::from("https://shop.example/"),
            version: cache.version(&[Bytes::from_static(source)]),
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
    fn a_version_is_the_bytes_not_how_they_were_split() {
        let cache = PageCache::new(1 << 20, 1 << 16).expect("on");
        let whole = cache.version(&[Bytes::from_static(b"<p>hello</p>")]);
        let parts = [Bytes::from_static(b"<p>hel"), Bytes::from_static(b"lo</p>")];
        assert_eq!(whole, cache.version(&parts));
        assert_ne!(
            whole,
            cache.version(&[Bytes::from_static(b"<p>hello!</p>")])
        );
        assert!(same_bytes(b"<p>hello</p>", &parts));
        assert!(!same_bytes(b"<p>hello</p>!", &parts));
        assert!(!same_bytes(b"<p>help</p>", &parts));
    }

    #[test]
    fn a_hit_needs_the_very_bytes_the_page_was_made_from() {
        let cache = PageCache::new(1 << 20, 1 << 16).expect("on");
        let class = Class::of(&ConsentState::undecided(), None);
        // As if two bodies shared a digest: the entry stands under the key of "v1" but was
        // made from other bytes; it must not be served for "v1".
        cache.insert(key(&cache, b"v1", class), page(b"v2", b"made from v2"));
        assert!(
            cache
                .get(&key(&cache, b"v1", class), &[Bytes::from_static(b"v1")])
                .is_none()
        );
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
        let v1 = [Bytes::from_static(b"v1")];
        cache.insert(
            key(&cache, b"v1", undecided),
            page(b"v1", b"for the undecided"),
        );
        assert!(cache.get(&key(&cache, b"v1", granted), &v1).is_none());
        assert!(cache.get(&key(&cache, b"v1", dutch), &v1).is_none());
        let v2 = [Bytes::from_static(b"v2")];
        assert!(
            cache.get(&key(&cache, b"v2", undecided), &v2).is_none(),
            "another version"
        );
        assert_eq!(
            cache
                .get(&key(&cache, b"v1", undecided), &v1)
                .expect("kept")
                .body,
            Bytes::from_static(b"for the undecided")
        );
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = PageCache::new(64 * 1024, 16 * 1024).expect("on");
        let class = Class::of(&ConsentState::undecided(), None);
        static BODY: [u8; 4096] = [b'x'; 4096];
        for i in 0..200u32 {
            let mut k = key(&cache, b"", class);
            k.page = format!("https://shop.example/{i}").into_boxed_str();
            cache.insert(k, page(b"", &BODY));
        }
        assert!(cache.bytes() <= 64 * 1024, "{} bytes held", cache.bytes());
        assert!(cache.len() >= 8, "{} pages held", cache.len());
        assert!(PageCache::new(0, 1).is_none(), "0 turns the cache off");
    }
}
