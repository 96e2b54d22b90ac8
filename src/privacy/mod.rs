//! Privacy by type: what may leave the request's memory is built here, and only here.
//!
//! A full client address is personal data (CJEU Breyer, C-582/14); it is used in memory
//! (routing decisions, later the geo lookup) and only an [`ip::AnonymizedIp`] ever
//! reaches a log line or the store; of a user agent, only a [`browser::BrowserFamily`].

pub mod browser;
pub mod ip;

pub use browser::BrowserFamily;
pub use ip::{AnonymizedIp, IpAnonymizer};
