//! # consent-proxy
//!
//! A reverse proxy that site owners put in front of their marketing sites to make them
//! privacy-first and lawful without touching the sites' code.
//!
//! ## Layout
//!
//! Data flows one way through these modules:
//!
//! - [`config`] — the TOML schema, defaults and validation with errors that name file,
//!   site and field.
//! - [`server`] — listeners (HTTP, HTTPS with SNI, admin), graceful shutdown, reload on
//!   SIGHUP.
//! - [`proxy`] — one request through named phases: routing by host, header rules
//!   (hop-by-hop, forwarding), the pooled upstream client, error pages, upgrades.
//! - [`rewrite`] — the streaming HTML rewrite: loader injection, neutralising trackers of
//!   refused categories, content codings, CSP; the tracker table.
//! - [`consent`] — categories, the signed consent cookie, cookie enforcement, the banner's
//!   texts and documents, `POST /_cp/consent`, the `/_cp/` assets.
//! - [`store`] — the SQLite store: consent records and their retention job.
//! - [`privacy`] — IP truncation and browser family; the only values of a visitor that may
//!   be logged or stored.
//! - [`secrets`] — the signing key and admin token in the data directory.
//! - [`telemetry`] — log setup and Prometheus metrics.
//! - [`dashboard`] — the admin listener: `/healthz`, `/metrics`, the consent-record API.
//! - [`demo`] — the built-in demo site behind `consent-proxy demo`.
//!
//! `ARCHITECTURE.md` has the data flow and the decisions behind this layout.

#![forbid(unsafe_code)]

pub mod config;
pub mod consent;
pub mod dashboard;
pub mod demo;
pub mod privacy;
pub mod proxy;
pub mod rewrite;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
