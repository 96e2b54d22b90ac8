//! `consent-proxy demo`: a small Dutch VoIP provider's marketing site, with the usual
//! trackers, served from the binary and put behind the proxy — no files, no setup.

pub mod site;

use std::net::SocketAddr;

use crate::config::Config;
use crate::server;

/// The demo's configuration, embedded so the demo needs no file.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// Where the demo listens; both default to the README's ports.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
}

/// Starts the demo site and the proxy in front of it; returns when a signal stops it.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let site_addr = site::start("127.0.0.1:0".parse()?).await?;
    let mut config = Config::parse("config/demo.toml (built in)", DEMO_CONFIG)?;
    config.server.listen = vec![options.listen];
    config.server.admin_listen = Some(options.admin);
    let data_dir = std::env::temp_dir().join("consent-proxy-demo");
    config.server.data_dir = data_dir.clone();
    for site in &mut config.sites {
        site.upstream = format!("http://{site_addr}");
    }
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
    println!("  Consent records (CSV):");
    println!(
        "    curl -H \"Authorization: Bearer $(cat {})\" http://localhost:{}/api/consents",
        data_dir.join(crate::dashboard::auth::TOKEN_FILE).display(),
        admin.port()
    );
    println!("  The demo site itself:        http://{site_addr}/");
    println!();
    println!("  Press Ctrl-C to stop.");
    println!();
    server::signals::run(handle, None).await?;
    Ok(())
}
