//! Two proxy processes behind one (imagined) load balancer, sharing one PostgreSQL
//! database and one signing key: a visitor's events reach both, yet each is counted once,
//! in one visit of one visitor (one salt for both), and forwarded to GA exactly once
//! although both replicas' senders work the same queue.

mod support;

use std::collections::HashSet;

use consent_proxy::catalog::{Category, CategorySet, ConsentId};
use consent_proxy::consent::cookie::{ConsentCookie, CookieKey};
use consent_proxy::store::Store;
use serde_json::{Value, json};
use support::ga::{API_SECRET, GaServer, MEASUREMENT_ID};
use support::{Binary, SITE_A, Upstream};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

struct Replica {
    binary: Binary,
    http: std::net::SocketAddr,
    admin: std::net::SocketAddr,
}

fn start(
    dir: &std::path::Path,
    n: usize,
    upstream: std::net::SocketAddr,
    db: &str,
    ga: &GaServer,
) -> Replica {
    let config = dir.join(format!("replica{n}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"
data_dir = "data{n}"
secret_key_file = "shared.key"

[storage]
url = "{db}"

[[site]]
name = "voipexpress"
hosts = ["{SITE_A}"]
upstream = "http://{upstream}"
jurisdiction = "nl"
ga = {{ measurement_id = "{MEASUREMENT_ID}", endpoint = "{}", api_secret_file = "ga.secret" }}
"#,
            ga.endpoint()
        ),
    )
    .expect("config");
    let binary = Binary::serve(&config);
    let http = binary.listening("listening for HTTP");
    let admin = binary.listening("admin listening");
    Replica {
        binary,
        http,
        admin,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_count_each_event_once_and_share_salts_and_the_ga_queue() {
    let upstream = Upstream::start().await;
    let ga = GaServer::start().await;
    let db = support::postgres::fresh_database().await;
    let dir = tempfile::tempdir().expect("dir");
    let key = [42u8; 32];
    std::fs::write(dir.path().join("shared.key"), key).expect("key");
    std::fs::write(dir.path().join("ga.secret"), API_SECRET).expect("secret");
    let replicas = [
        start(dir.path(), 1, upstream.addr, &db, &ga),
        start(dir.path(), 2, upstream.addr, &db, &ga),
    ];

    // One visitor who granted analytics; the cookie is valid at both (one key).
    let now = u32::try_from(consent_proxy::clock::unix_now()).unwrap();
    let consent = ConsentCookie {
        id: ConsentId::random(),
        granted: CategorySet::NECESSARY_ONLY.with(Category::Analytics),
        issued: now,
        expires: now + 3600,
    }
    .encode(&CookieKey::from_bytes(&key), "voipexpress", "1");
    let mut cookies = vec![format!("cp_consent={consent}")];
    // Ten page views, alternating between the replicas as a load balancer would.
    for i in 0..10 {
        let replica = &replicas[i % 2];
        let client = reqwest::Client::builder()
            .resolve(SITE_A, replica.http)
            .build()
            .expect("client");
        let resp = client
            .post(format!("http://{SITE_A}:{}/_cp/collect", replica.http.port()))
            .header("origin", format!("http://{SITE_A}:{}", replica.http.port()))
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "text/plain;charset=UTF-8")
            .header("user-agent", CHROME)
            .header("accept-language", "nl")
            .header("cookie", cookies.join("; "))
            .body(json!({ "events": [{ "name": "page_view", "url": format!("http://{SITE_A}/p{i}") }] }).to_string())
            .send()
            .await
            .expect("collect");
        assert_eq!(resp.status(), 204, "replica {}", i % 2 + 1);
        // The GA client id cookies set by the first answer go along afterwards.
        for c in support::set_cookies(&resp) {
            let pair = c.split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            cookies.retain(|k| !k.starts_with(&format!("{name}=")));
            cookies.push(pair);
        }
    }

    // GA gets each page view once, though both senders claim from the same queue.
    ga.until("ten page views", |events| events.len() >= 10)
        .await;
    let store = Store::open(&db, dir.path()).await.expect("store");
    for _ in 0..200 {
        if store.ga_depth().await.expect("depth") == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.ga_depth().await.expect("depth"),
        0,
        "the queue is empty"
    );
    let pages: Vec<String> = ga
        .events()
        .iter()
        .map(|e| {
            e["params"]["page_location"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(pages.len(), 10, "no event sent twice: {pages:#?}");
    assert_eq!(pages.iter().collect::<HashSet<_>>().len(), 10);
    assert!(ga.problems().is_empty(), "{:?}", ga.problems());

    // Either replica's stats API: one visitor (one shared salt), one visit, ten views.
    let token = std::fs::read_to_string(dir.path().join("data2/admin.token")).expect("token");
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{}/api/v2/query", replicas[1].admin))
        .bearer_auth(token.trim())
        .json(&json!({ "site_id": SITE_A, "metrics": ["visitors", "visits", "pageviews"], "date_range": "day" }))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(
        answer["results"][0]["metrics"],
        json!([1, 1, 10]),
        "{answer}"
    );
    assert_eq!(
        store
            .count_events("voipexpress", 0, i64::MAX)
            .await
            .expect("count"),
        10
    );
    drop(replicas.into_iter().map(|r| r.binary).collect::<Vec<_>>());
}
