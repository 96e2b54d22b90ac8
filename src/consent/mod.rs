//! Consent: the categories a visitor can grant, and the state a request carries.
//!
//! Until the signed consent cookie lands, every request is [`ConsentState::undecided`]:
//! nothing outside `necessary` is granted (ePrivacy art. 5(3): consent *before* storing or
//! reading non-essential information).

pub mod assets;
pub mod category;
pub mod cookie;
pub mod enforce;

pub use category::{Category, CategorySet};

/// What one request may contain, decided on the server before the response is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentState {
    granted: CategorySet,
    decided: bool,
}

impl ConsentState {
    /// No choice made yet: only `necessary`.
    pub const fn undecided() -> ConsentState {
        ConsentState {
            granted: CategorySet::NECESSARY_ONLY,
            decided: false,
        }
    }

    /// A choice made by the visitor (`necessary` is always included).
    pub fn decided(granted: CategorySet) -> ConsentState {
        ConsentState {
            granted: granted.with(Category::Necessary),
            decided: true,
        }
    }

    pub fn granted(&self) -> CategorySet {
        self.granted
    }

    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// The same state with `category` refused (Global Privacy Control).
    #[must_use]
    pub fn refusing(self, category: Category) -> ConsentState {
        ConsentState {
            granted: self.granted.without(category),
            decided: self.decided,
        }
    }

    pub fn allows(&self, category: Category) -> bool {
        self.granted.contains(category)
    }
}
