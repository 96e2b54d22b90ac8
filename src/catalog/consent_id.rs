//! The consent id: the name of one visitor's series of choices, carried in the consent
//! cookie and written in every consent record.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

/// A consent id: random, so it says nothing about the visitor, yet findable in the
/// consent records (GDPR art. 7(1): the controller can demonstrate consent).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsentId(pub [u8; 16]);

impl ConsentId {
    pub fn random() -> ConsentId {
        let mut id = [0u8; 16];
        // The system RNG does not fail on Linux; an all-zero id would still be unique
        // enough to not matter for the one request it could affect.
        let _ = SystemRandom::new().fill(&mut id);
        ConsentId(id)
    }
}

impl fmt::Display for ConsentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConsentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
