//! The `consent-proxy` command line: `serve`, `demo`, `check-config`.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use consent_proxy::config::{Config, LogFormat};
use consent_proxy::store::Store;
use consent_proxy::{demo, server, telemetry};

/// An allocator made for multi-threaded servers: per-request and per-chunk allocations
/// were ~14 % of the CPU under load with the C allocator (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "consent-proxy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the sites of a configuration file (SIGHUP reloads it, SIGTERM drains and stops).
    Serve {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the built-in demo site behind the proxy; no files needed.
    Demo {
        /// Address of the proxy in front of the demo site.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Address of the admin listener.
        #[arg(long, default_value = "127.0.0.1:9090")]
        admin: SocketAddr,
        /// Keep the demo's state (signing key, consent records, admin token) in this
        /// directory across runs; by default a new temporary directory is used and removed
        /// when the demo stops.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Validate a configuration file and print every problem with file, site and field:
    /// errors (exit status 1) and warnings (printed; the file is still usable).
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Checking away from the server: certificate, key, CA and database files that do
        /// not exist here are warnings instead of errors.
        #[arg(long)]
        offline: bool,
    },
    /// Send a sample event batch of a site to GA4's validation endpoint
    /// (`/debug/mp/collect`) and print Google's validation messages.
    GaCheck {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The site's `name`.
        #[arg(long)]
        site: String,
    },
    /// Print a `cp_consent` cookie signed with the server's key, for testing a site as a
    /// visitor with the given choice (e.g. with curl or a load generator).
    ConsentCookie {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The site's `name`.
        #[arg(long)]
        site: String,
        /// Granted categories, comma-separated (`analytics,marketing`); empty refuses all.
        #[arg(long, default_value = "")]
        grant: String,
        /// The running proxy's data directory (where its `secret.key` is), instead of the
        /// configuration's `data_dir`; `consent-proxy demo` prints the command with it.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// API tokens for the stats API, scoped to sites (the admin token reads every site).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Dashboard users: `add`, `remove`, `passwd`, `list`.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Generate traffic for one site (benchmarks, trying the statistics): page views,
    /// goals, sources, campaigns, countries and devices over past days, then rolled up.
    Seed {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The site's `name`.
        #[arg(long)]
        site: String,
        /// How many events in all.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Over how many days, ending yesterday.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create (or replace) a user with roles per site; the password comes from stdin
    /// with `--password-stdin`, else one is generated and printed once.
    Add {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        username: String,
        /// `SITE:owner` (everything, including consent-record export) or `SITE:viewer`
        /// (statistics only); repeat for several sites.
        #[arg(long = "site", required = true, value_name = "SITE:ROLE")]
        sites: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user and end their sessions.
    Remove {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        username: String,
    },
    /// Set a new password (stdin with `--password-stdin`, else generated); sessions end.
    Passwd {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their sites and roles.
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it once (only its hash is stored).
    Add {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// A site `name` the token may read; repeat for several.
        #[arg(long = "site", required = true)]
        sites: Vec<String>,
        /// What the token is for (shown by `token list`).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (id, sites, label, created), never the tokens themselves.
    List {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Revoke a token by its id.
    Remove {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file, offline } => check_config(&file, offline),
        Command::Serve { config } => report(run_serve(config)),
        Command::ConsentCookie {
            config,
            site,
            grant,
            data_dir,
        } => report(print_consent_cookie(&config, &site, &grant, data_dir)),
        Command::GaCheck { config, site } => {
            report(runtime().and_then(|rt| rt.block_on(ga_check(&config, &site))))
        }
        Command::User { action } => report(runtime().and_then(|rt| rt.block_on(user(action)))),
        Command::Token { action } => report(runtime().and_then(|rt| rt.block_on(token(action)))),
        Command::Seed {
            config,
            site,
            events,
            days,
        } => report(runtime().and_then(|rt| rt.block_on(seed(&config, &site, events, days)))),
        Command::Demo {
            listen,
            admin,
            data_dir,
        } => {
            telemetry::log::init(LogFormat::Human);
            report(runtime().and_then(|rt| {
                rt.block_on(demo::run(demo::DemoOptions {
                    listen,
                    admin,
                    data_dir,
                }))
            }))
        }
    }
}

fn check_config(file: &std::path::Path, offline: bool) -> ExitCode {
    let loaded = if offline {
        Config::load_offline(file)
    } else {
        Config::load(file)
    };
    let checked = loaded.and_then(|config| {
        // Certificates are read too, so a bad PEM is found now and not at start.
        server::tls::CertStore::load(&config)
            .map(|_| config)
            .map_err(|problems| consent_proxy::config::ConfigError {
                file: file.to_owned(),
                problems,
            })
    });
    match checked {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {}", warning.located(file));
            }
            let sites = config.sites.len();
            println!(
                "{}: ok ({sites} site{}{})",
                file.display(),
                if sites == 1 { "" } else { "s" },
                match config.warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_owned(),
                    n => format!(", {n} warnings"),
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(path: PathBuf) -> anyhow::Result<()> {
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(e) => anyhow::bail!("refusing to start: the configuration has problems:\n{e}"),
    };
    telemetry::log::init(config.server.log_format);
    for warning in &config.warnings {
        tracing::warn!(problem = %warning.located(&path), "configuration warning");
    }
    runtime()?.block_on(async move {
        let signals = server::signals::Signals::install()?;
        let handle = server::start(config).await?;
        server::signals::run_with(handle, signals, Some(path)).await?;
        Ok(())
    })
}

/// The control runtime: signals, reload, the admin listener. Proxied traffic runs on the
/// server's own worker threads (see `server::workers`).
fn print_consent_cookie(
    path: &std::path::Path,
    site: &str,
    grant: &str,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    use consent_proxy::catalog::ConsentId;
    use consent_proxy::consent::cookie::{ConsentCookie, CookieKey, NAME};
    use consent_proxy::consent::{Category, CategorySet};
    let mut config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(dir) = data_dir {
        config.server.data_dir = dir;
    }
    let site = config
        .sites
        .iter()
        .find(|s| s.name == site)
        .with_context(|| format!("no site named `{site}` in {}", path.display()))?;
    let mut granted = CategorySet::NECESSARY_ONLY;
    for name in grant.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let category =
            Category::parse(name).with_context(|| format!("`{name}` is not a category"))?;
        granted = granted.with(category);
    }
    // Only an existing key: a new one would sign cookies no running proxy accepts.
    let key = CookieKey::existing(&config.server).context(
        "no signing key to sign with: start the proxy once with this configuration, or \
         pass --data-dir with the running proxy's data directory (`consent-proxy demo` \
         prints the whole command)",
    )?;
    let now = u32::try_from(consent_proxy::clock::unix_now())?;
    let cookie = ConsentCookie {
        id: ConsentId::random(),
        granted,
        issued: now,
        expires: now.saturating_add(24 * 3600),
    };
    println!(
        "{NAME}={}",
        cookie.encode(&key, &site.name, &site.policy_version)
    );
    Ok(())
}

/// `ga-check`: the same payload shape the proxy sends, to Google's validation server.
async fn ga_check(path: &std::path::Path, site: &str) -> anyhow::Result<()> {
    use consent_proxy::ga::Target;
    let config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let site_config = config
        .sites
        .iter()
        .find(|s| s.name == site)
        .with_context(|| format!("no site named `{site}` in {}", path.display()))?;
    let target = Target::of(site_config)
        .with_context(|| {
            format!(
                "site `{site}` does not forward to GA (ga.mode = \"server\" with a measurement_id)"
            )
        })?
        .map_err(|e| anyhow::anyhow!("site `{site}`: {e}"))?;
    let host = site_config.hosts.first().cloned().unwrap_or_default();
    let body = consent_proxy::ga::payload::sample(&host);
    let url = target.url(true);
    println!(
        "POST {} (measurement_id={}, api_secret hidden)",
        target
            .endpoint
            .replacen("/mp/collect", "/debug/mp/collect", 1),
        target.measurement_id
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&body)?)?
    );
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()?
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the validation server: {}", e.without_url()))?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await.unwrap_or_default();
    let messages = answer
        .get("validationMessages")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    println!("HTTP {status}");
    if messages.is_empty() && status.is_success() {
        println!("valid: Google's validation server reported no problem");
        return Ok(());
    }
    for m in &messages {
        println!(
            "- {} ({}): {}",
            m.get("fieldPath").and_then(|v| v.as_str()).unwrap_or("-"),
            m.get("validationCode")
                .and_then(|v| v.as_str())
                .unwrap_or("-"),
            m.get("description").and_then(|v| v.as_str()).unwrap_or("-"),
        );
    }
    anyhow::bail!("{} validation message(s)", messages.len())
}

/// The store of a configuration, opened by a command beside (or instead of) the server.
async fn open_store(path: &std::path::Path) -> anyhow::Result<(Config, Store)> {
    let config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    consent_proxy::secrets::private_dir(&config.server.data_dir)
        .with_context(|| format!("data directory {}", config.server.data_dir.display()))?;
    let store = Store::open(&config.storage.url, &config.server.data_dir).await?;
    Ok((config, store))
}

async fn token(action: TokenAction) -> anyhow::Result<()> {
    match action {
        TokenAction::Add {
            config,
            sites,
            label,
        } => {
            let (cfg, store) = open_store(&config).await?;
            for site in &sites {
                anyhow::ensure!(
                    cfg.sites.iter().any(|s| &s.name == site),
                    "no site named `{site}` in {}",
                    config.display()
                );
            }
            let random = |n: usize| -> anyhow::Result<String> {
                let mut bytes = vec![0u8; n];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                    .map_err(|_| anyhow::anyhow!("no system randomness"))?;
                Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
            };
            let id = random(4)?;
            let secret = format!("cp_{}", random(24)?);
            let now = i64::try_from(consent_proxy::clock::unix_now())?;
            store.add_token(&id, &secret, &sites, &label, now).await?;
            eprintln!(
                "token {id} reads {}; it is shown only now:",
                sites.join(", ")
            );
            println!("{secret}");
        }
        TokenAction::List { config } => {
            let (_, store) = open_store(&config).await?;
            for t in store.tokens().await? {
                println!("{}\t{}\t{}\t{}", t.id, t.sites, t.created, t.label);
            }
        }
        TokenAction::Remove { config, id } => {
            let (_, store) = open_store(&config).await?;
            anyhow::ensure!(store.remove_token(&id).await?, "no token with id `{id}`");
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// The password: a line from stdin, or a new random one printed once.
fn password(from_stdin: bool) -> anyhow::Result<String> {
    use consent_proxy::dashboard::session::random_hex;
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(
            password.chars().count() >= 10,
            "the password must have at least 10 characters"
        );
        Ok(password)
    } else {
        let password = random_hex(12);
        println!("password: {password}");
        Ok(password)
    }
}

async fn user(action: UserAction) -> anyhow::Result<()> {
    use consent_proxy::dashboard::session::{Role, hash_password};
    match action {
        UserAction::Add {
            config,
            username,
            sites,
            password_stdin,
        } => {
            let (cfg, store) = open_store(&config).await?;
            anyhow::ensure!(
                !username.is_empty()
                    && username.len() <= 64
                    && username
                        .chars()
                        .all(|c| c.is_alphanumeric() || "._-@".contains(c)),
                "a user name is 1 to 64 letters, digits, `.`, `_`, `-` or `@`"
            );
            let mut roles = Vec::new();
            for spec in &sites {
                let (site, role) = spec.split_once(':').unwrap_or((spec, "viewer"));
                anyhow::ensure!(
                    cfg.sites.iter().any(|s| s.name == site),
                    "no site named `{site}` in {}",
                    config.display()
                );
                anyhow::ensure!(
                    Role::parse(role).is_some(),
                    "`{role}` is not a role (owner or viewer)"
                );
                roles.push((site.to_owned(), role.to_owned()));
            }
            let hash = hash_password(&password(password_stdin)?).map_err(anyhow::Error::msg)?;
            let now = i64::try_from(consent_proxy::clock::unix_now())?;
            store.put_user(&username, &hash, &roles, now).await?;
            eprintln!("user {username} can log in at the admin listener's /dashboard");
        }
        UserAction::Remove { config, username } => {
            let (_, store) = open_store(&config).await?;
            anyhow::ensure!(store.remove_user(&username).await?, "no user `{username}`");
            println!("user {username} removed");
        }
        UserAction::Passwd {
            config,
            username,
            password_stdin,
        } => {
            let (_, store) = open_store(&config).await?;
            let hash = hash_password(&password(password_stdin)?).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                store.set_password(&username, &hash).await?,
                "no user `{username}`"
            );
            eprintln!("password of {username} changed; their sessions ended");
        }
        UserAction::List { config } => {
            let (_, store) = open_store(&config).await?;
            for u in store.users().await? {
                let sites: Vec<String> = u.sites.iter().map(|(s, r)| format!("{s}:{r}")).collect();
                println!("{}\t{}", u.username, sites.join(","));
            }
        }
    }
    Ok(())
}

async fn seed(path: &std::path::Path, site: &str, events: u64, days: i64) -> anyhow::Result<()> {
    let (config, store) = open_store(path).await?;
    let site_config = config
        .sites
        .iter()
        .find(|s| s.name == site)
        .with_context(|| format!("no site named `{site}` in {}", path.display()))?;
    anyhow::ensure!((1..=3660).contains(&days), "--days is 1 to 3660");
    let today =
        consent_proxy::clock::unix_now_ms().div_euclid(consent_proxy::store::rollup::DAY_MS);
    let started = std::time::Instant::now();
    let written = consent_proxy::stats::seed::seed(
        &store,
        &consent_proxy::stats::seed::Plan {
            site: site.to_owned(),
            host: site_config.hosts.first().cloned().unwrap_or_default(),
            events,
            days,
            until_day: today,
            seed: 1,
        },
    )
    .await?;
    eprintln!(
        "{written} events written in {:.1} s; rolling up …",
        started.elapsed().as_secs_f64()
    );
    let started = std::time::Instant::now();
    let days_rolled =
        consent_proxy::stats::rollup::catch_up(&store, site, consent_proxy::clock::unix_now_ms())
            .await?;
    eprintln!(
        "{days_rolled} days rolled up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The control runtime: signals, reload, the admin listener and dashboard, the store's
/// event writer, the GA sender. Two threads, so the event writer never waits behind an
/// admin request (their heavy counting runs on the blocking pool besides).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consent-proxy: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `a: b: c`, each said once: the typed errors already name their
/// cause in their own message (`cannot listen on …: Address already in use`), and anyhow's
/// `{:#}` would repeat it.
fn chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
