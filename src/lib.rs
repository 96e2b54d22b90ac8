//! # consent-proxy
//!
//! A reverse proxy that site owners put in front of their marketing sites to make them
//! privacy-first and lawful without touching the sites' code.
//!
//! ## Layout
//!
//! Modules import one way, lowest first (`tests/docs.rs` checks it):
//!
//! - [`catalog`] — shared vocabulary, importing nothing of the proxy: consent categories,
//!   the tracker catalogue, the consent id.
//! - [`clock`], [`body`], [`coding`], [`connection`], [`secrets`] — Unix time, body types,
//!   content codings, one accepted connection and its silence watchdog, key files in the
//!   data directory; [`pem`] — certificates and keys read from PEM files.
//! - [`config`] — the TOML schema, defaults and validation with errors that name file,
//!   site and field.
//! - [`privacy`] — IP truncation and browser family; the only values of a visitor that may
//!   be logged or stored.
//! - [`telemetry`] — log setup and Prometheus metrics.
//! - [`store`] — SQLite (embedded) or PostgreSQL (replicas): consent records, raw events
//!   and rollups, the GA queue, salts, API tokens; versioned migrations; retention.
//! - [`acme`] — automatic HTTPS (RFC 8555): certificates loaded, ordered, renewed and
//!   swapped into the SNI resolver; shared by replicas through the store.
//! - [`consent`] — the per-request consent state, the signed consent cookie, cookie
//!   enforcement, the banner's texts and documents, `POST /_cp/consent`, the `/_cp/` assets.
//! - [`stats`] — visits rebuilt from raw events, daily rollups, Plausible-shaped queries
//!   with consent and enforcement metrics.
//! - [`rewrite`] — the streaming HTML rewrite: loader injection, neutralising trackers of
//!   refused categories, CSP.
//! - [`proxy`] — one request through named phases: routing by host, header rules
//!   (hop-by-hop, forwarding), the pooled upstream clients (plain and verified HTTPS
//!   origins), error pages, upgrades.
//! - [`dashboard`] — the admin listener: `/healthz`, `/metrics`, the consent-record API,
//!   the stats API, the marketers' dashboard behind a login.
//! - [`server`] — listeners (HTTP, HTTPS with SNI, admin), graceful shutdown, reload on
//!   SIGHUP.
//! - [`demo`] — the built-in demo site behind `consent-proxy demo`.
//!
//! `ARCHITECTURE.md` has the data flow and the decisions behind this layout.

#![forbid(unsafe_code)]

pub mod acme;
pub mod body;
pub mod catalog;
pub mod clock;
pub mod coding;
pub mod collect;
pub mod config;
pub mod connection;
pub mod consent;
pub mod dashboard;
pub mod demo;
pub mod ga;
pub mod limiter;
pub mod pem;
pub mod privacy;
pub mod proxy;
pub mod rewrite;
pub mod secrets;
pub mod server;
pub mod stats;
pub mod store;
pub mod telemetry;
