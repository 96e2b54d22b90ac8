//! `[server.timeouts]` and `[server.limits]`: how long a peer may take and how much it may
//! send or hold, with the defaults a fresh install runs with.

use std::time::Duration;

use serde::Deserialize;

/// `[server.timeouts]`, written as durations: `"10s"`, `"500ms"`, `"2m"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Time a client has to send the request head (slowloris) and to finish a TLS handshake.
    #[serde(with = "humantime_serde")]
    pub header_read: Duration,
    /// Time to open a TCP connection to an upstream.
    #[serde(with = "humantime_serde")]
    pub upstream_connect: Duration,
    /// Time the upstream has to send its response head.
    #[serde(with = "humantime_serde")]
    pub upstream_response: Duration,
    /// Longest pause allowed within a body, in either direction.
    #[serde(with = "humantime_serde")]
    pub idle_body: Duration,
    /// Longest a keep-alive connection may sit idle between requests.
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// How long in-flight requests may run after SIGTERM before connections are closed.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            upstream_connect: Duration::from_secs(5),
            upstream_response: Duration::from_secs(60),
            idle_body: Duration::from_secs(60),
            keep_alive: Duration::from_secs(75),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// `[server.limits]`: what a stranger may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request head in bytes (request line and all headers); more is answered 431.
    pub max_header_bytes: usize,
    /// Most header fields in one request; more is answered 431.
    pub max_headers: usize,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Memory one page's HTML rewrite may hold (a tag split across chunks, a long
    /// attribute); past it the rest of the page passes through unmodified.
    pub html_rewrite_memory: usize,
    /// Consent choices recorded per minute from one address; more get `429`, so replayed
    /// posts cannot fill the disk.
    pub consents_per_minute: u32,
    /// The ceiling per minute for a whole network (the truncated address): higher than
    /// the per-address budget, so one address cannot use up its neighbours' (CGNAT).
    pub consents_per_minute_network: u32,
    /// How many times larger than its compressed form an HTML page may decode to (after
    /// its first MiB); past it the page is cut off as a decompression bomb.
    pub decompression_ratio: u32,
    /// Largest read buffer, in bytes, of one upstream connection; reads adapt up to it.
    /// Larger is faster for large responses, smaller bounds memory per busy connection.
    pub upstream_read_buffer: usize,
    /// Bytes of rewritten pages kept, so a page version is rewritten and compressed once
    /// per consent class instead of once per request; 0 turns the cache off.
    pub page_cache_bytes: usize,
    /// The largest upstream page that may be kept; larger pages stream.
    pub page_cache_page_bytes: usize,
    /// Ask the upstream about a kept page it gave a strong validator — `If-None-Match`
    /// for a strong `ETag`, else `If-Modified-Since` for a `Last-Modified` date at least
    /// a minute older than its `Date` — so an unchanged page costs a `304` instead of its
    /// body. Off for an origin whose validators do not change with the page.
    pub page_cache_revalidate: bool,
    /// Requests for a kept page that queue behind a revalidation share the next one
    /// instead of each asking the upstream (`proxy::coalesce`; exact: that question is
    /// sent after each of them arrived).
    pub page_cache_share_revalidations: bool,
    /// Responses that pass through untouched (JSON, images, downloads) with a strong
    /// validator are kept as they came and revalidated like pages (`proxy::keep`).
    pub page_cache_passthrough: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_concurrent_streams: 128,
            upstream_read_buffer: 32 * 1024,
            html_rewrite_memory: 1024 * 1024,
            consents_per_minute: 60,
            consents_per_minute_network: 600,
            decompression_ratio: 100,
            page_cache_bytes: 32 * 1024 * 1024,
            page_cache_page_bytes: 2 * 1024 * 1024,
            page_cache_revalidate: true,
            page_cache_share_revalidations: true,
            page_cache_passthrough: true,
        }
    }
}
