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
//! - [`consent`] — consent categories and the per-request consent state; `/_cp/` assets.
//! - [`privacy`] — IP truncation; the only way to make a value that may be logged or stored.
//! - [`telemetry`] — log setup and Prometheus metrics.
//! - [`dashboard`] — the admin listener: `/healthz`, `/metrics`.
//! - [`demo`] — the built-in demo site behind `consent-proxy demo`.
//!
//! See `shared/DESIGN.md` for the whole picture and the modules still to come
//! (`collect`, `ga`, `store`).

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
