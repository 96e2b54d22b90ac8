//! Revalidations of a kept page shared by the requests that queue behind one ("group
//! commit"): a request that finds a revalidation of its page on its way to the upstream
//! does not send its own, and does not take that one's answer either — it was asked before
//! the request arrived, and the page may have changed since. It waits for the *next* round,
//! which one of the queued requests sends for all of them once the current one is
//! answered: that question leaves after each of them arrived, so its answer says what the
//! upstream held at or after their arrival, the guarantee their own requests would have
//! given, and the cache's invalidation stays exact. nginx's `proxy_cache_lock` and
//! Varnish's request coalescing share one fetch the same way, but let a request join the
//! fetch already running.
//!
//! A `304` answers the whole round from the kept version; anything else (a new version,
//! an error, a leader whose visitor went away) sends each of them to the upstream on its
//! own. Only requests that are alike for the upstream share: a plain `GET` asking about
//! the same kept version, without a body, cookies or credentials (RFC 9111 §3.5: a shared
//! cache does not answer a request carrying `Authorization` from another's response); the
//! kept response itself is one any visitor may be given (`proxy::revalidate`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::header::{self, HeaderMap};
use http::{Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::revalidate::{self, Revalidation, UpstreamBody};
use super::route::Site;
use super::{Exchange, Proxy};
use crate::rewrite::cache::{Validator, VersionKey};
use crate::telemetry::metrics::SiteLabels;

/// The upstream's `304` for a kept version: which version it was asked about, and its
/// fields (merged into the stored head as for the leader's own 304, RFC 9111 §4.3.4).
#[derive(Debug)]
pub struct NotModified {
    pub validator: Validator,
    pub headers: HeaderMap,
}

/// What a queued request is told.
pub enum Turn {
    /// Ask the upstream for yourself and for these.
    Lead(Round),
    /// The round's question was answered `304`.
    Answered(Arc<NotModified>),
    /// Ask the upstream yourself, alone.
    OnYourOwn,
}

/// Rounds in flight by page version; each holds the requests queued for the next round.
#[derive(Default)]
pub struct Coalescer {
    rounds: Arc<Mutex<HashMap<VersionKey, Vec<oneshot::Sender<Turn>>>>>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

/// How a request takes part.
pub enum Role {
    /// No round in flight: this request's question is the round.
    Lead(Round),
    /// A round is in flight: wait for the next one.
    Queued(oneshot::Receiver<Turn>),
}

impl Coalescer {
    pub fn join(&self, key: &VersionKey) -> Role {
        let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(queued) = rounds.get_mut(key) {
            let (tx, rx) = oneshot::channel();
            queued.push(tx);
            return Role::Queued(rx);
        }
        rounds.insert(key.clone(), Vec::new());
        drop(rounds);
        Role::Lead(Round {
            rounds: Arc::clone(&self.rounds),
            key: Some(key.clone()),
            led: Vec::new(),
            answer: None,
        })
    }
}

/// One round led by one request: whatever happens to that request, those it leads are
/// told the answer and the requests queued meanwhile get their round when it is dropped.
pub struct Round {
    rounds: Arc<Mutex<HashMap<VersionKey, Vec<oneshot::Sender<Turn>>>>>,
    /// `None` once the round was handed over (or never started).
    key: Option<VersionKey>,
    led: Vec<oneshot::Sender<Turn>>,
    answer: Option<Arc<NotModified>>,
}

impl Round {
    /// The upstream answered this round's question: a `304` about `validator` is shared.
    pub fn answered(mut self, status: StatusCode, validator: &Validator, headers: &HeaderMap) {
        if status == StatusCode::NOT_MODIFIED && !self.led.is_empty() {
            self.answer = Some(Arc::new(NotModified {
                validator: validator.clone(),
                headers: headers.clone(),
            }));
        }
    }

    /// How many requests this round answers besides its leader.
    #[cfg(test)]
    pub fn led(&self) -> usize {
        self.led.len()
    }
}

impl Drop for Round {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        for tx in self.led.drain(..) {
            let _ = tx.send(match &self.answer {
                Some(answer) => Turn::Answered(Arc::clone(answer)),
                None => Turn::OnYourOwn,
            });
        }
        let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
        let mut queued = rounds.get_mut(&key).map(std::mem::take).unwrap_or_default();
        // The next round goes to a queued request still waiting; one whose visitor left
        // hands its turn back.
        while let Some(next) = queued.pop() {
            let round = Round {
                rounds: Arc::clone(&self.rounds),
                key: Some(key.clone()),
                led: queued,
                answer: None,
            };
            match next.send(Turn::Lead(round)) {
                Ok(()) => return,
                Err(Turn::Lead(mut back)) => {
                    back.key = None;
                    queued = std::mem::take(&mut back.led);
                }
                Err(_) => return,
            }
        }
        rounds.remove(&key);
    }
}

/// Whether this upstream request may share a round: no body, cookies or credentials
/// (whatever else differs between visitors, the upstream said the kept page is for all).
pub fn may_share<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    let bodiless = h.get(header::CONTENT_LENGTH).is_none_or(|v| v == "0")
        && !h.contains_key(header::TRANSFER_ENCODING);
    bodiless
        && ![header::COOKIE, header::AUTHORIZATION, header::UPGRADE]
            .iter()
            .any(|name| h.contains_key(name))
}

impl Proxy {
    /// Phase 3, for a kept page: its revalidation shared with the requests queued behind
    /// another (`proxy::coalesce`), or asked alone.
    pub(super) async fn exchange(
        &self,
        req: Request<super::upstream::UpstreamBody>,
        site: &Site,
        ex: &mut Exchange,
        asked: Option<&Revalidation>,
        shareable: bool,
    ) -> Result<Response<UpstreamBody>, StatusCode> {
        let kept = asked.and_then(|r| Some((&r.key, r.kept.as_ref()?)));
        let mut round = None;
        if let (Some(coalescer), Some((key, version))) = (&self.coalescer, kept)
            && shareable
            && may_share(&req)
        {
            round = match coalescer.join(key) {
                Role::Lead(round) => Some(round),
                Role::Queued(turn) => {
                    let waiting = self.metrics.page_cache.wait();
                    let turn = turn.await;
                    drop(waiting);
                    match turn {
                        Ok(Turn::Answered(answer)) if answer.validator == version.validator => {
                            self.metrics
                                .page_cache
                                .shared
                                .get_or_create(&SiteLabels {
                                    site: Arc::clone(&site.name),
                                })
                                .inc();
                            return Ok(revalidate::from_kept(version.clone(), &answer.headers));
                        }
                        Ok(Turn::Lead(round)) => Some(round),
                        _ => None,
                    }
                }
            };
        }
        let resp = self.upstream(req, site, ex).await?;
        if let (Some(round), Some((_, version))) = (round, kept) {
            round.answered(resp.status(), &version.validator, resp.headers());
        }
        Ok(revalidate::answer(resp, asked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn key() -> VersionKey {
        VersionKey {
            site: Arc::from("a"),
            page: "http://a/".into(),
            accept_encoding: HeaderValue::from_static("gzip"),
        }
    }

    fn lead(role: Role) -> Round {
        match role {
            Role::Lead(round) => round,
            Role::Queued(_) => panic!("expected to lead"),
        }
    }

    fn queued(role: Role) -> oneshot::Receiver<Turn> {
        match role {
            Role::Queued(rx) => rx,
            Role::Lead(_) => panic!("expected to queue"),
        }
    }

    const ETAG: Validator = Validator::Tag(HeaderValue::from_static("\"v1\""));

    #[tokio::test]
    async fn requests_queued_behind_a_round_get_the_next_one_not_its_answer() {
        let c = Coalescer::default();
        let first = lead(c.join(&key()));
        let b = queued(c.join(&key()));
        let mut d = queued(c.join(&key()));
        first.answered(StatusCode::NOT_MODIFIED, &ETAG, &HeaderMap::new());
        // The first round's 304 was asked before b and d arrived: one of them leads the
        // next round for the other.
        let Ok(Turn::Lead(second)) = d.try_recv() else {
            panic!("the last queued leads")
        };
        assert_eq!(second.led(), 1);
        let e = queued(c.join(&key()));
        second.answered(StatusCode::NOT_MODIFIED, &ETAG, &HeaderMap::new());
        let Ok(Turn::Answered(answer)) = b.await else {
            panic!("answered by the second round")
        };
        assert_eq!(answer.validator, ETAG);
        // e queued during the second round: it leads the third, alone.
        let Ok(Turn::Lead(third)) = e.await else {
            panic!("e leads")
        };
        assert_eq!(third.led(), 0);
        drop(third);
        let _next = lead(c.join(&key()));
    }

    #[tokio::test]
    async fn anything_but_a_304_sends_each_on_its_own() {
        let c = Coalescer::default();
        let first = lead(c.join(&key()));
        let b = queued(c.join(&key()));
        let d = queued(c.join(&key()));
        drop(first);
        let (Ok(Turn::Lead(second)), other) = ({ d }.await, b) else {
            panic!("d leads")
        };
        second.answered(StatusCode::OK, &ETAG, &HeaderMap::new());
        assert!(matches!(other.await, Ok(Turn::OnYourOwn)));
    }

    #[tokio::test]
    async fn a_queued_request_that_left_hands_its_turn_on() {
        let c = Coalescer::default();
        let first = lead(c.join(&key()));
        let b = queued(c.join(&key()));
        let gone = queued(c.join(&key()));
        drop(gone);
        drop(first);
        assert!(matches!(b.await, Ok(Turn::Lead(_))));
        // The round b was handed was dropped with it: the page has no round in flight.
        let _next = lead(c.join(&key()));
    }
}
