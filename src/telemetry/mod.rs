//! What the proxy tells its operators: log lines and Prometheus metrics.

pub mod access;
pub mod acme;
pub mod flow;
pub mod log;
pub mod metrics;
pub mod page_cache;
pub mod proof;

pub use metrics::Metrics;
