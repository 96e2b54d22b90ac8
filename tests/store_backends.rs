//! One storage interface, two real databases: every test here runs against an SQLite file
//! and against a real PostgreSQL server (started by `scripts/test.sh`), through the same
//! `Store` API the proxy uses.

mod support;

use std::sync::Arc;

use consent_proxy::catalog::{Category, CategorySet, ConsentId};
use consent_proxy::privacy::event::{Parts, Visit};
use consent_proxy::privacy::page::referrer_host;
use consent_proxy::privacy::{
    AnonymizedEvent, BrowserFamily, CleanPage, Device, IpAnonymizer, Location, Salt, VisitorHash,
};
use consent_proxy::stats::dims::{Dim, Filter};
use consent_proxy::stats::period::Range;
use consent_proxy::store::rollup::{Counts, DAY_MS, Rolled};
use consent_proxy::store::{ConsentQuery, ConsentRecord, GaQueued, Ingest, Method, Store};

/// A database of one kind, in a directory of its own.
struct Backend {
    url: String,
    dir: tempfile::TempDir,
}

impl Backend {
    async fn sqlite() -> Backend {
        Backend {
            url: "sqlite://test.db".into(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn postgres() -> Backend {
        Backend {
            url: support::postgres::fresh_database().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn open(&self) -> Store {
        Store::open(&self.url, self.dir.path()).await.unwrap()
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::Backend::sqlite().await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::Backend::postgres().await).await;
                }
            }
        )*
    };
}

on_both!(
    consent_records,
    events_and_retention,
    ga_queue_claims_once,
    salts_are_shared,
    funnel_and_enforcement,
    tokens,
    rollups_are_claimed_once,
    rollups_equal_raw_answers,
    migrations_run_twice,
);

const SITE: &str = "s";
const HOST: &str = "a.nl";
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// One event of visitor `who` at `ts`.
fn event(
    ts: i64,
    who: u32,
    name: &str,
    path: &str,
    referrer: &str,
    country: &str,
) -> AnonymizedEvent {
    let hosts = vec![HOST.to_owned()];
    AnonymizedEvent::new(Parts {
        site: Arc::from(SITE),
        ts_ms: ts,
        name: name.to_owned(),
        visitor: VisitorHash::of(
            &Salt([1; 32]),
            SITE,
            std::net::Ipv4Addr::from(who).into(),
            UA,
        ),
        visit: Visit {
            id: 1,
            started_ms: ts,
            entry: true,
        },
        page: CleanPage::of(&format!("https://{HOST}{path}"), &hosts, &[]).unwrap(),
        referrer: referrer_host(referrer, &hosts),
        location: Location {
            country: (!country.is_empty()).then(|| country.to_owned()),
            region: None,
        },
        device: Device::of(UA),
        language: None,
        engagement_ms: 0,
        params: Vec::new(),
    })
}

async fn consent_records(b: Backend) {
    let store = b.open().await;
    for (site, at, method) in [
        ("a", 100, Method::AcceptAll),
        ("b", 200, Method::RejectAll),
        ("a", 300, Method::Custom),
    ] {
        store
            .record_consent(&ConsentRecord {
                id: ConsentId::random(),
                site: site.into(),
                recorded_at: at,
                expires_at: at + 10,
                policy_version: "1".into(),
                granted: CategorySet::NECESSARY_ONLY.with(Category::Analytics),
                refused: CategorySet::NECESSARY_ONLY.with(Category::Marketing),
                method,
                gpc: at == 200,
                language: "nl",
                ip: IpAnonymizer::new(24, 48).anonymize("192.0.2.9".parse().unwrap()),
                browser: BrowserFamily::Firefox,
            })
            .await
            .unwrap();
    }
    let a = store
        .consents(
            &ConsentQuery {
                site: Some("a".into()),
                from: None,
                to: None,
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].method, "accept-all");
    assert_eq!(a[0].granted, vec!["necessary", "analytics"]);
    assert_eq!(a[0].ip, "192.0.2.0");
    let history = store.consent_history(&a[1].consent_id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].recorded_at, 300);
    let window = store
        .consents(
            &ConsentQuery {
                site: None,
                from: Some(150),
                to: Some(300),
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(window.len(), 1);
    assert!(window[0].gpc);
    assert_eq!(store.delete_consents_before(250).await.unwrap(), 2);
    assert_eq!(
        store
            .consents(&ConsentQuery::default(), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn events_and_retention(b: Backend) {
    let store = b.open().await;
    let events = (0..1200)
        .map(|i| {
            event(
                1_000 + i,
                (i % 7) as u32,
                "page_view",
                "/p",
                "https://www.google.com/",
                "NL",
            )
        })
        .collect();
    store
        .ingest(Ingest {
            events,
            ga: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(store.count_events(SITE, 0, i64::MAX).await.unwrap(), 1200);
    let raw = store.raw_events(SITE, 1_000, 1_010).await.unwrap();
    assert_eq!(raw.len(), 10);
    assert_eq!(raw[0].referrer.as_deref(), Some("www.google.com"));
    assert_eq!(raw[0].country.as_deref(), Some("NL"));
    assert_eq!(raw[0].browser, "Firefox");
    assert_eq!(store.first_event_day(SITE).await.unwrap(), Some(0));
    assert_eq!(store.delete_events_before(1_100).await.unwrap(), 100);
    assert_eq!(store.count_events(SITE, 0, i64::MAX).await.unwrap(), 1100);
}

fn queued(i: i64, consent: &str) -> GaQueued {
    GaQueued {
        site: SITE.into(),
        consent_id: consent.into(),
        client_id: format!("c{i}"),
        created_ms: 1_000 + i,
        payload: format!("{{\"n\":{i}}}"),
    }
}

async fn ga_queue_claims_once(b: Backend) {
    let store = b.open().await;
    let ga = (0..10)
        .map(|i| queued(i, if i < 2 { "withdrawn" } else { "kept" }))
        .collect();
    store
        .ingest(Ingest {
            events: Vec::new(),
            ga,
        })
        .await
        .unwrap();
    assert_eq!(store.ga_depth().await.unwrap(), 10);
    assert_eq!(store.ga_forget("withdrawn").await.unwrap(), 2);
    // A second sender (another replica: a second pool on the same database) claiming at
    // the same moment never gets the rows the first one holds.
    let other = b.open().await;
    let (first, second) = tokio::join!(store.ga_due(5_000, 5), other.ga_due(5_000, 5));
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut ids: Vec<i64> = first.iter().chain(&second).map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        first.len() + second.len(),
        "no row claimed twice"
    );
    assert_eq!(ids.len(), 8, "all eight claimed between them");
    assert!(
        store.ga_due(5_000, 10).await.unwrap().is_empty(),
        "leased rows are not due"
    );
    store.ga_retry(&ids[..3], 6_000).await.unwrap();
    store.ga_done(&ids[3..]).await.unwrap();
    let again = store.ga_due(6_000, 10).await.unwrap();
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|r| r.attempts == 1));
    assert_eq!(store.ga_depth().await.unwrap(), 3);
    assert_eq!(store.ga_trim(1).await.unwrap(), 2);
    assert_eq!(store.ga_expire(i64::MAX).await.unwrap(), 1);
}

async fn salts_are_shared(b: Backend) {
    let one = b.open().await;
    let two = b.open().await;
    let (x, y) = tokio::join!(one.salt(20_000), two.salt(20_000));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.0, y.0, "one salt per day for everyone");
    assert_ne!(x.0, [0; 32]);
    let next = one.salt(20_001).await.unwrap();
    assert_ne!(next.0, x.0, "a new day, a new salt");
    one.salt(20_003).await.unwrap();
    // Salts older than yesterday are gone: asking for day 20,000 again makes a new one.
    assert_ne!(two.salt(20_000).await.unwrap().0, x.0);
}

async fn funnel_and_enforcement(b: Backend) {
    let store = b.open().await;
    store
        .add_funnel(&[
            ("s".into(), 10, "banner_shown", 3),
            ("s".into(), 11, "accept_all", 1),
        ])
        .await
        .unwrap();
    store
        .add_funnel(&[("s".into(), 10, "banner_shown", 2)])
        .await
        .unwrap();
    assert_eq!(
        store.funnel("s", 0, 100).await.unwrap(),
        vec![("accept_all".to_owned(), 1), ("banner_shown".to_owned(), 5)]
    );
    assert_eq!(store.funnel_hours("s", 11, 12).await.unwrap().len(), 1);
    store
        .add_enforcement(&[("s".into(), 5, "marketing", "response", 4)])
        .await
        .unwrap();
    store
        .add_enforcement(&[
            ("s".into(), 5, "marketing", "response", 1),
            ("s".into(), 6, "analytics", "script", 2),
        ])
        .await
        .unwrap();
    let proof = store.enforcement("s", 0, 6).await.unwrap();
    assert_eq!(proof.len(), 1);
    assert_eq!(
        (
            proof[0].category.as_str(),
            proof[0].action.as_str(),
            proof[0].count
        ),
        ("marketing", "response", 5)
    );
}

async fn tokens(b: Backend) {
    let store = b.open().await;
    store
        .add_token("id1", "secret-1", &["a".into(), "b".into()], "ci", 7)
        .await
        .unwrap();
    let found = store.find_token("secret-1").await.unwrap().unwrap();
    assert_eq!(found.site_names().collect::<Vec<_>>(), vec!["a", "b"]);
    assert!(store.find_token("secret-2").await.unwrap().is_none());
    assert_eq!(store.tokens().await.unwrap().len(), 1);
    assert!(store.remove_token("id1").await.unwrap());
    assert!(!store.remove_token("id1").await.unwrap());
    assert!(store.find_token("secret-1").await.unwrap().is_none());
}

async fn rollups_are_claimed_once(b: Backend) {
    let one = b.open().await;
    let two = b.open().await;
    let row = |n| Rolled {
        dim: "visit:country",
        value: "NL".into(),
        counts: Counts {
            visitors: n,
            visits: n,
            pageviews: n,
            events: n,
            bounces: 0,
            duration_ms: 0,
        },
    };
    let rows = [row(1)];
    let (x, y) = tokio::join!(
        one.write_rollup(SITE, 3, 1, &rows),
        two.write_rollup(SITE, 3, 1, &rows)
    );
    assert!(x.unwrap() ^ y.unwrap(), "exactly one replica writes a day");
    one.write_rollup(SITE, 4, 1, &[row(2)]).await.unwrap();
    let summed = one
        .rollup_by_value(SITE, "visit:country", 0, 10)
        .await
        .unwrap();
    assert_eq!(summed.len(), 1);
    assert_eq!(summed[0].counts.visitors, 3);
    assert_eq!(one.rolled_days(SITE, 0, 10).await.unwrap(), vec![3, 4]);
    assert_eq!(one.delete_rollups_before(4).await.unwrap(), 1);
    assert_eq!(one.rolled_days(SITE, 0, 10).await.unwrap(), vec![4]);
}

/// The daily rollups give exactly the answers of the raw events, on random traffic.
async fn rollups_equal_raw_answers(b: Backend) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let cases = if b.url.starts_with("sqlite") { 24 } else { 8 };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    // (day 0..3, minute of day, visitor, name, page, referrer, country)
    let one = (
        0i64..3,
        0i64..1440,
        0u32..6,
        0usize..3,
        0usize..4,
        0usize..3,
        0usize..3,
    );
    let strategy = proptest::collection::vec(one, 1..80);
    let base = Backend {
        url: b.url.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    let handle = tokio::runtime::Handle::current();
    let counter = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&strategy, |spec| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result: Result<(), String> = tokio::task::block_in_place(|| {
                handle.block_on(async {
                    let site_dir = tempfile::tempdir().unwrap();
                    let url = if base.url.starts_with("sqlite") {
                        format!("sqlite://case{n}.db")
                    } else {
                        support::postgres::fresh_database().await
                    };
                    let store = Store::open(&url, site_dir.path()).await.unwrap();
                    let events = spec
                        .iter()
                        .map(|(day, minute, who, name, page, referrer, country)| {
                            event(
                                100 * DAY_MS + day * DAY_MS + minute * 60_000,
                                *who,
                                ["page_view", "page_engagement", "signup"][*name],
                                ["/", "/a", "/b?x=1", "/c"][*page],
                                ["", "https://www.google.com/", "https://t.co/x"][*referrer],
                                ["NL", "BE", ""][*country],
                            )
                        })
                        .collect();
                    store
                        .ingest(Ingest {
                            events,
                            ga: Vec::new(),
                        })
                        .await
                        .unwrap();
                    let range = Range { from: 100, to: 103 };
                    let queries: Vec<Vec<Dim>> = vec![
                        vec![],
                        vec![Dim::Day],
                        vec![Dim::Page],
                        vec![Dim::Goal],
                        vec![Dim::EntryPage],
                        vec![Dim::ExitPage],
                        vec![Dim::Source],
                        vec![Dim::Country],
                        vec![Dim::Device],
                    ];
                    let none = Filter::default();
                    let open = consent_proxy::stats::today::OpenDays::default();
                    // The reference: every day from raw events ("today" far ahead).
                    let src = consent_proxy::stats::engine::Source {
                        store: &store,
                        open: &open,
                        today: 999,
                    };
                    let mut raw = Vec::new();
                    for dims in &queries {
                        raw.push(
                            consent_proxy::stats::engine::counts(src, SITE, range, dims, &none)
                                .await
                                .unwrap(),
                        );
                    }
                    // "Now" is day 102: every day from the first event to 101 is closed and
                    // gets rollups; day 102 is today, answered from the in-memory snapshot.
                    let rolled = consent_proxy::stats::rollup::catch_up(
                        &store,
                        SITE,
                        102 * DAY_MS + 3_600_000,
                    )
                    .await
                    .unwrap();
                    let first = 100 + spec.iter().map(|e| e.0).min().unwrap_or(0);
                    if rolled != usize::try_from((102 - first).max(0)).unwrap() {
                        return Err(format!("{rolled} days rolled up from day {first}"));
                    }
                    let src = consent_proxy::stats::engine::Source {
                        store: &store,
                        open: &open,
                        today: 102,
                    };
                    for (dims, expected) in queries.iter().zip(&raw) {
                        let got =
                            consent_proxy::stats::engine::counts(src, SITE, range, dims, &none)
                                .await
                                .unwrap();
                        if &got != expected {
                            return Err(format!("{dims:?}: rollups {got:?} != raw {expected:?}"));
                        }
                    }
                    Ok(())
                })
            });
            prop_assert!(result.is_ok(), "{}", result.unwrap_err());
            Ok(())
        })
        .unwrap();
}

async fn migrations_run_twice(b: Backend) {
    // Opening again (a restart, or a second replica) finds the schema current.
    let one = b.open().await;
    one.salt(1).await.unwrap();
    drop(one);
    let two = b.open().await;
    assert_eq!(two.ga_depth().await.unwrap(), 0);
}
