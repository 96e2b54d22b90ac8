//! Privacy by type: what may leave the request's memory is built here, and only here.
//!
//! A full client address is personal data (CJEU Breyer, C-582/14); it is used in memory
//! (routing decisions, the geo lookup, the day's visitor hash) and only an
//! [`ip::AnonymizedIp`] ever reaches a log line or the store; of a user agent, only a
//! [`browser::BrowserFamily`] or a [`device::Device`]. An event reaches the store and
//! Google only as an [`event::AnonymizedEvent`], built from those pieces alone.

pub mod browser;
pub mod device;
pub mod event;
pub mod geo;
pub mod ip;
pub mod page;
pub mod visitor;

pub use browser::BrowserFamily;
pub use device::{Device, DeviceCategory};
pub use event::AnonymizedEvent;
pub use geo::{GeoDb, Location};
pub use ip::{AnonymizedIp, IpAnonymizer};
pub use page::{CleanPage, Utm};
pub use visitor::{Salt, VisitorHash};
