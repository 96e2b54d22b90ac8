//! `consent-proxy demo`: a small Dutch VoIP provider's marketing site, with the usual
//! trackers, served from the binary and put behind the proxy — no files, no setup.

pub mod ga;
pub mod site;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::Config;
use crate::server;

/// The demo's configuration, embedded so the demo needs no file.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// Where the demo listens (both default to the README's ports) and keeps its state.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// `None`: a new temporary directory, removed when the demo stops, so every run
    /// starts without consent records.
    pub data_dir: Option<PathBuf>,
}

/// A data directory made for one run and removed at its end.
struct RunDir {
    path: PathBuf,
    temporary: bool,
}

impl RunDir {
    fn new(kept: Option<PathBuf>) -> std::io::Result<RunDir> {
        if let Some(path) = kept {
            std::fs::create_dir_all(&path)?;
            return Ok(RunDir {
                path: std::path::absolute(path)?,
                temporary: false,
            });
        }
        let mut random = [0u8; 6];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
            .map_err(|_| std::io::Error::other("no system randomness"))?;
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("consent-proxy-demo-{name}"));
        std::fs::create_dir(&path)?;
        Ok(RunDir {
            path,
            temporary: true,
        })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// 30 days of generated traffic (once per data directory) and a `demo` user with a new
/// password, returned to be printed.
async fn demo_statistics(config: &Config) -> anyhow::Result<String> {
    use crate::stats::seed::{Plan, seed, seed_consent};
    let store = crate::store::Store::open(&config.storage.url, &config.server.data_dir).await?;
    let site = config.sites.first().context("the demo has a site")?;
    let today = crate::clock::unix_now_ms().div_euclid(crate::store::rollup::DAY_MS);
    if store.first_event_day(&site.name).await?.is_none() {
        let plan = Plan {
            site: site.name.clone(),
            host: site.hosts.first().cloned().unwrap_or_default(),
            events: 30 * 1500,
            days: 30,
            until_day: today,
            seed: 2026,
        };
        seed(&store, &plan).await?;
        seed_consent(&store, &plan, 600).await?;
        crate::stats::rollup::catch_up(&store, &site.name, crate::clock::unix_now_ms()).await?;
    }
    let password = crate::dashboard::session::random_hex(8);
    let hash = crate::dashboard::session::hash_password(&password).map_err(anyhow::Error::msg)?;
    store
        .put_user(
            "demo",
            &hash,
            &[(site.name.clone(), "owner".into())],
            i64::try_from(crate::clock::unix_now())?,
        )
        .await?;
    Ok(password)
}

/// Starts the demo site and the proxy in front of it; returns when a signal stops it.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let site_addr = site::start("127.0.0.1:0".parse()?).await?;
    let mut config = Config::parse("config/demo.toml (built in)", DEMO_CONFIG)?;
    config.server.listen = vec![options.listen];
    config.server.admin_listen = Some(options.admin);
    let run_dir = RunDir::new(options.data_dir)?;
    let data_dir = run_dir.path.clone();
    config.server.data_dir = data_dir.clone();
    // Google is not reachable from a demo: GA4 forwarding goes to a local stand-in.
    let ga_addr = ga::start("127.0.0.1:0".parse()?).await?;
    let secret = data_dir.join("ga-demo.secret");
    std::fs::write(&secret, "demo-secret-not-a-real-one")?;
    for site in &mut config.sites {
        site.ga = Some(crate::config::GaConfig {
            measurement_id: Some("G-DEMO12345".into()),
            mode: crate::config::GaMode::Server,
            api_secret_env: None,
            api_secret_file: Some(secret.clone()),
            endpoint: format!("http://{ga_addr}/mp/collect"),
            send_truncated_ip: false,
        });
    }
    // The configuration beside the state, so the printed commands work from any directory.
    let config_file = data_dir.join("demo.toml");
    std::fs::write(&config_file, DEMO_CONFIG)?;
    for site in &mut config.sites {
        site.upstream = format!("http://{site_addr}");
    }
    config.dashboard.notice = Some(
        "Demo data: the last 30 days are generated traffic (consent-proxy demo); \
         your own visits to the demo site are added to today."
            .into(),
    );
    let password = demo_statistics(&config).await?;
    let signals = server::signals::Signals::install()?;
    let handle = server::start(config).await?;
    let proxy = handle.http_addrs.first().copied().unwrap_or(options.listen);
    let admin = handle.admin_addr.unwrap_or(options.admin);
    println!();
    println!("  consent-proxy demo is running");
    println!();
    println!(
        "  Demo site behind the proxy:  http://localhost:{}/",
        proxy.port()
    );
    println!(
        "  Admin (health, metrics):     http://localhost:{}/healthz",
        admin.port()
    );
    println!(
        "                               http://localhost:{}/metrics",
        admin.port()
    );
    println!(
        "  Dashboard:                   http://localhost:{}/dashboard   user demo, password {password}",
        admin.port()
    );
    println!("  Consent records (CSV):");
    println!(
        "    curl -H \"Authorization: Bearer $(cat {})\" http://localhost:{}/api/consents",
        data_dir.join(crate::dashboard::auth::TOKEN_FILE).display(),
        admin.port()
    );
    println!("  A cookie of a visitor who granted analytics and marketing (for curl):");
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "consent-proxy".into());
    println!(
        "    {exe} consent-cookie --config {} --data-dir {} --site demo --grant analytics,marketing",
        config_file.display(),
        data_dir.display()
    );
    println!(
        "  Google Analytics stand-in:   http://{ga_addr}/   (demo only: what the proxy forwarded to GA4)"
    );
    println!("  The demo site itself:        http://{site_addr}/");
    if run_dir.temporary {
        println!(
            "  State (key, consent records): {} (temporary: removed when the demo stops; \
             --data-dir DIR keeps it)",
            data_dir.display()
        );
    } else {
        println!(
            "  State (key, consent records): {} (kept; delete the directory to start afresh)",
            data_dir.display()
        );
    }
    println!();
    println!("  Press Ctrl-C to stop.");
    println!();
    server::signals::run_with(handle, signals, None).await?;
    drop(run_dir);
    Ok(())
}
