//! Generated traffic for benchmarks and the demo (`consent-proxy seed`): visits with one
//! to several page views, goals, sources, UTM campaigns, countries and devices, spread
//! over days with a daily rhythm — written through the same ingest path and privacy
//! types as real events, then rolled up.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::privacy::event::{Parts, Visit};
use crate::privacy::page::referrer_host;
use crate::privacy::{AnonymizedEvent, CleanPage, Device, Location, Salt, VisitorHash};
use crate::store::rollup::DAY_MS;
use crate::store::{Ingest, Store, StoreError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub site: String,
    pub host: String,
    pub events: u64,
    pub days: i64,
    /// The last day generated is the one before this (days since the epoch).
    pub until_day: i64,
    pub seed: u64,
}

/// A small deterministic generator (SplitMix64): the same plan gives the same traffic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Index into weights.
    fn pick(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }
}

const PAGES: &[&str] = &[
    "/",
    "/prijzen",
    "/nummer-aanvragen",
    "/contact",
    "/over-ons",
    "/voip",
    "/blog",
    "/085-nummer",
    "/088-nummer",
    "/0800-nummer",
    "/vast-naar-mobiel",
    "/faq",
];
const REFERRERS: &[(&str, u64)] = &[
    ("", 40),
    ("https://www.google.com/", 35),
    ("https://www.bing.com/", 6),
    ("https://duckduckgo.com/", 4),
    ("https://www.linkedin.com/", 5),
    ("https://www.facebook.com/", 4),
    ("https://forum.example.nl/topic/1", 6),
];
const CAMPAIGNS: &[(&str, &str, &str)] = &[
    ("newsletter", "email", "winter"),
    ("google", "cpc", "085-nummers"),
    ("linkedin", "social", "zakelijk"),
];
const COUNTRIES: &[(&str, u64)] = &[("NL", 70), ("BE", 20), ("DE", 5), ("FR", 3), ("GB", 2)];
const AGENTS: &[(&str, u64)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        40,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        25,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        15,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        10,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        6,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        4,
    ),
];
/// Share of visitors per hour of the day (UTC), office hours heavier.
const HOURS: [u64; 24] = [
    1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 7, 6, 5, 4, 3, 2, 1,
];

/// Generates and stores the plan's events; returns how many were written.
pub async fn seed(store: &Store, plan: &Plan) -> Result<u64, StoreError> {
    let mut rng = Rng(plan.seed);
    let site: Arc<str> = Arc::from(plan.site.as_str());
    let hosts = vec![plan.host.clone()];
    let salt = Salt([7; 32]);
    let devices: Vec<Device> = AGENTS.iter().map(|(ua, _)| Device::of(ua)).collect();
    let agent_weights: Vec<u64> = AGENTS.iter().map(|(_, w)| *w).collect();
    let referrer_weights: Vec<u64> = REFERRERS.iter().map(|(_, w)| *w).collect();
    let country_weights: Vec<u64> = COUNTRIES.iter().map(|(_, w)| *w).collect();
    let per_day = plan.events / u64::try_from(plan.days.max(1)).unwrap_or(1);
    let first_day = plan.until_day - plan.days;
    let mut written = 0u64;
    let mut batch: Vec<AnonymizedEvent> = Vec::with_capacity(4096);
    let mut visitor_no = 0u32;
    for day in first_day..plan.until_day {
        let mut today = 0u64;
        while today < per_day {
            visitor_no = visitor_no.wrapping_add(1);
            let ip = IpAddr::V4(Ipv4Addr::from(visitor_no));
            let agent = rng.pick(&agent_weights);
            let visitor = VisitorHash::of(&salt, &site, ip, AGENTS[agent].0);
            let hour = i64::try_from(rng.pick(&HOURS)).unwrap_or(0);
            let mut ts =
                day * DAY_MS + hour * 3_600_000 + i64::try_from(rng.below(3_000_000)).unwrap_or(0);
            let referrer = REFERRERS[rng.pick(&referrer_weights)].0;
            let campaign =
                (rng.below(10) == 0).then(|| CAMPAIGNS[rng.below(CAMPAIGNS.len() as u64) as usize]);
            let country = COUNTRIES[rng.pick(&country_weights)].0;
            let views = 1 + rng.below(4) + u64::from(rng.below(3) == 0) * rng.below(5);
            let started = ts;
            for n in 0..views {
                let path = PAGES[rng.below(PAGES.len() as u64) as usize];
                let url = match (n, campaign) {
                    (0, Some((s, m, c))) => format!(
                        "https://{}{path}?utm_source={s}&utm_medium={m}&utm_campaign={c}",
                        plan.host
                    ),
                    _ => format!("https://{}{path}", plan.host),
                };
                let Some(page) = CleanPage::of(&url, &hosts, &[]) else {
                    continue;
                };
                let name = if n > 0 && rng.below(12) == 0 {
                    "contact_form"
                } else {
                    "page_view"
                };
                batch.push(AnonymizedEvent::new(Parts {
                    site: Arc::clone(&site),
                    ts_ms: ts,
                    name: name.to_owned(),
                    visitor,
                    visit: Visit {
                        id: i64::from(visitor_no),
                        started_ms: started,
                        entry: n == 0,
                    },
                    page,
                    referrer: if n == 0 {
                        referrer_host(referrer, &hosts)
                    } else {
                        None
                    },
                    location: Location {
                        country: Some(country.to_owned()),
                        region: None,
                    },
                    device: devices[agent],
                    language: Some("nl".to_owned()),
                    engagement_ms: 0,
                    params: Vec::new(),
                }));
                ts += 10_000 + i64::try_from(rng.below(240_000)).unwrap_or(0);
                today += 1;
            }
            if batch.len() >= 4000 {
                written += batch.len() as u64;
                store
                    .ingest(Ingest {
                        events: std::mem::take(&mut batch),
                        ga: Vec::new(),
                    })
                    .await?;
            }
        }
    }
    written += batch.len() as u64;
    store
        .ingest(Ingest {
            events: batch,
            ga: Vec::new(),
        })
        .await?;
    Ok(written)
}

/// The consent funnel and the proof of enforcement of generated days, in proportion to
/// `visits_per_day`: about 55 % accept all, 30 % reject all, 15 % choose; 3 % with GPC.
pub async fn seed_consent(
    store: &Store,
    plan: &Plan,
    visits_per_day: i64,
) -> Result<(), StoreError> {
    let mut rng = Rng(plan.seed ^ 0xC0_5E_17);
    let mut funnel = Vec::new();
    let mut proof = Vec::new();
    for day in plan.until_day - plan.days..plan.until_day {
        let shown = visits_per_day / 2 + i64::try_from(rng.below(50)).unwrap_or(0);
        let accept = shown * 55 / 100;
        let reject = shown * 30 / 100;
        let custom = shown * 15 / 100;
        let hour = day * 24 + 10;
        for (metric, n) in [
            ("banner_shown", shown),
            ("accept_all", accept),
            ("reject_all", reject),
            ("custom", custom),
            ("granted_preferences", accept + custom / 2),
            ("granted_analytics", accept + custom * 2 / 3),
            ("granted_marketing", accept + custom / 4),
            ("gpc", shown * 3 / 100),
        ] {
            funnel.push((plan.site.clone(), hour, metric, n));
        }
        for (category, action, n) in [
            ("analytics", "script", reject * 2),
            ("marketing", "script", reject + custom / 2),
            ("marketing", "pixel", reject),
            ("marketing", "iframe", reject / 4),
            ("analytics", "response", reject),
            ("marketing", "request", reject / 3),
        ] {
            proof.push((plan.site.clone(), day, category, action, n));
        }
    }
    store.add_funnel(&funnel).await?;
    store.add_enforcement(&proof).await
}
