//! Visits without cookies: a visitor's events belong to one visit until 30 minutes pass
//! without one (as Plausible and GA count). Held in memory per process, keyed by the
//! day's visitor hash — so a visit never outlives the day's salt either.

use std::collections::HashMap;
use std::sync::Mutex;

use ring::rand::{SecureRandom, SystemRandom};

use crate::privacy::VisitorHash;
use crate::privacy::event::Visit;

/// A visit ends after this long without events.
pub const VISIT_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Past this many visitors the ended visits are swept.
const SWEEP_AT: usize = 200_000;

#[derive(Debug, Default)]
pub struct Visits {
    open: Mutex<HashMap<VisitorHash, (i64, i64, i64)>>,
}

impl Visits {
    /// The visit of an event of `visitor` at `now_ms`.
    pub fn touch(&self, visitor: VisitorHash, now_ms: i64) -> Visit {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.len() >= SWEEP_AT {
            open.retain(|_, (_, _, last)| now_ms - *last < VISIT_TIMEOUT_MS);
        }
        match open.get_mut(&visitor) {
            Some((id, started, last)) if now_ms - *last < VISIT_TIMEOUT_MS => {
                *last = now_ms.max(*last);
                Visit {
                    id: *id,
                    started_ms: *started,
                    entry: false,
                }
            }
            _ => {
                let mut random = [0u8; 8];
                let _ = SystemRandom::new().fill(&mut random);
                let id = i64::from_be_bytes(random) & i64::MAX;
                open.insert(visitor, (id, now_ms, now_ms));
                Visit {
                    id,
                    started_ms: now_ms,
                    entry: true,
                }
            }
        }
    }
}
