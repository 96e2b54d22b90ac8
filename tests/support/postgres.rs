//! A fresh database on the test PostgreSQL server that `scripts/test.sh` starts
//! (`scripts/postgres.sh`; its URL in `CP_TEST_POSTGRES`).

/// The URL of a new, empty database of its own.
pub async fn fresh_database() -> String {
    use sqlx::Connection as _;
    use sqlx::Executor as _;
    let base = std::env::var("CP_TEST_POSTGRES").expect(
        "CP_TEST_POSTGRES is not set: run the tests with scripts/test.sh, which starts PostgreSQL \
         (or start one with `eval \"$(scripts/postgres.sh)\"`)",
    );
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to the test PostgreSQL server");
    let name = format!(
        "cp_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let name = format!("{name}_{}", consent_proxy::clock::unix_now_ms());
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create a test database");
    let mut url = url::Url::parse(&base).expect("CP_TEST_POSTGRES is a URL");
    url.set_path(&name);
    url.to_string()
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
