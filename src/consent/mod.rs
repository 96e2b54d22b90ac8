//! Consent: the categories a visitor can grant, and the state a request carries.
//!
//! Until the signed consent cookie lands, every request is [`ConsentState::undecided`]:
//! nothing outside `necessary` is granted (ePrivacy art. 5(3): consent *before* storing or
//! reading non-essential information).

pub mod assets;
pub mod cookie;
pub mod endpoint;
pub mod enforce;
pub mod policy;
pub mod texts;
pub mod ui;

pub use crate::catalog::{Category, CategorySet};

/// Whether the browser sends a Global Privacy Control signal (`Sec-GPC: 1`).
pub fn gpc(headers: &http::HeaderMap) -> bool {
    headers.get("sec-gpc").is_some_and(|v| v.as_bytes() == b"1")
}

/// What one request may contain, decided on the server before the response is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentState {
    granted: CategorySet,
    decided: bool,
    /// The consent id and when it was given, shown to the visitor in the preference
    /// centre so they can exercise their rights (GDPR arts. 15–17) and found in the records.
    record: Option<(crate::catalog::ConsentId, u32)>,
    /// A Global Privacy Control signal refused some categories of this request.
    gpc: bool,
}

impl ConsentState {
    /// No choice made yet: only `necessary`.
    pub const fn undecided() -> ConsentState {
        ConsentState {
            granted: CategorySet::NECESSARY_ONLY,
            decided: false,
            record: None,
            gpc: false,
        }
    }

    /// A choice made by the visitor (`necessary` is always included).
    pub fn decided(granted: CategorySet) -> ConsentState {
        ConsentState {
            granted: granted.with(Category::Necessary),
            decided: true,
            record: None,
            gpc: false,
        }
    }

    /// The state a verified consent cookie carries.
    pub fn from_cookie(cookie: &cookie::ConsentCookie) -> ConsentState {
        ConsentState {
            record: Some((cookie.id, cookie.issued)),
            ..ConsentState::decided(cookie.granted)
        }
    }

    /// The consent id and the time (Unix seconds) it was given.
    pub fn record(&self) -> Option<(crate::catalog::ConsentId, u32)> {
        self.record
    }

    /// Whether a Global Privacy Control signal refused something.
    pub fn gpc(&self) -> bool {
        self.gpc
    }

    pub fn granted(&self) -> CategorySet {
        self.granted
    }

    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// The same state with `categories` refused by a Global Privacy Control signal.
    #[must_use]
    pub fn refusing_by_gpc(self, categories: &[Category]) -> ConsentState {
        ConsentState {
            granted: categories
                .iter()
                .filter(|c| **c != Category::Necessary)
                .fold(self.granted, |set, c| set.without(*c)),
            gpc: true,
            ..self
        }
    }

    pub fn allows(&self, category: Category) -> bool {
        self.granted.contains(category)
    }
}
