//! What the proxy tells its operators: log lines and Prometheus metrics.

pub mod flow;
pub mod log;
pub mod metrics;

pub use metrics::Metrics;
