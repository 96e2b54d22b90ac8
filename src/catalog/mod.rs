//! The shared vocabulary every other module speaks: the consent categories, the tracker
//! catalogue (which scripts, embeds, pixels and cookies belong to which category) and the
//! consent id. It imports nothing of the proxy, so configuration, rewriting, enforcement,
//! collection and storage can all use it without tying into a circle.

pub mod category;
pub mod consent_id;
pub mod trackers;

pub use category::{Category, CategorySet};
pub use consent_id::ConsentId;
pub use trackers::{Rules, Tracker, TrackerSpec, UnknownCookies};
