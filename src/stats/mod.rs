//! Statistics for marketers from the anonymised, cookieless events: visits rebuilt from
//! raw events, daily rollups, and queries in the shape of Plausible's Stats API v2 —
//! plus what no analytics tool shows: consent rates and proof of enforcement.
//!
//! - [`visits`]: raw events → visits → additive counts per group;
//! - [`dims`]: the dimensions (Plausible's names) and filters;
//! - [`period`]: date ranges and their previous periods (UTC days);
//! - [`query`]: a request body checked into a typed query;
//! - [`engine`]: answering it from rollups, raw events, the consent funnel and the
//!   enforcement counts;
//! - [`rollup`]: the background job that rolls closed days up;
//! - [`seed`]: generated traffic for benchmarks and the demo;
//! - [`today`]: the open day's events in memory, shared by a dashboard's queries.

pub mod dims;
pub mod engine;
pub mod period;
pub mod query;
pub mod rollup;
pub mod seed;
pub mod today;
pub mod visits;

pub use engine::{Answer, answer};
pub use query::{Query, Request};
