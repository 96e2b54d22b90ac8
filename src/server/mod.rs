//! Listeners, TLS, graceful shutdown and reload.
//!
//! [`start`] binds every listener and returns a [`ServerHandle`]; the handle reloads the
//! configuration atomically ([`ServerHandle::reload`]) and drains connections on
//! [`ServerHandle::shutdown`]. [`signals::run`] connects both to SIGHUP/SIGTERM/SIGINT.

mod dashboard_host;
mod listener;
pub mod signals;
pub mod tls;
mod workers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError};
use crate::consent::cookie::CookieKey;
use crate::proxy::Proxy;
use crate::store::Store;
use crate::telemetry::Metrics;
use tls::CertStore;

/// Everything that changes on reload, swapped as one value so a request never sees half
/// of an old and half of a new configuration.
#[derive(Debug)]
pub struct State {
    pub config: Arc<Config>,
    pub proxy: Proxy,
    pub certs: CertStore,
}

impl State {
    pub fn build(
        config: Config,
        metrics: &Arc<Metrics>,
        key: &Arc<CookieKey>,
        store: &Store,
        collector: &Arc<crate::collect::Collector>,
        acme: &Arc<crate::acme::Acme>,
    ) -> Result<State, ConfigError> {
        let certs = CertStore::load(&config).map_err(|problems| ConfigError {
            file: config.source.clone(),
            problems,
        })?;
        Ok(State {
            proxy: Proxy::new(
                &config,
                Arc::clone(metrics),
                Arc::clone(key),
                store.clone(),
                Arc::clone(collector),
                Arc::clone(acme),
            ),
            certs,
            config: Arc::new(config),
        })
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the data directory `{path}`: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or create the consent signing key in `{path}`: {source}")]
    Key {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot read or create the admin token in `{path}`: {source}")]
    AdminToken {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock the data directory (`{path}`): {source}")]
    Locked {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("geoip: {0}")]
    Geo(String),
    #[error("cannot start worker threads: {0}")]
    Worker(std::io::Error),
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// What connection tasks share.
struct Shared {
    state: Arc<ArcSwap<State>>,
    metrics: Arc<Metrics>,
    /// Signs consent cookies; loaded once, kept across reloads.
    key: Arc<CookieKey>,
    /// Opened once; a reload cannot move it.
    store: Store,
    /// Event collection: geo database, salts, visits (kept across reloads).
    collector: Arc<crate::collect::Collector>,
    /// Certificates ordered by ACME, and the challenge answers in flight.
    acme: Arc<crate::acme::Acme>,
    /// Where each site's GA events go; replaced on reload.
    ga_targets: crate::ga::forwarder::Targets,
    stats_sites: crate::stats::rollup::Sites,
    /// `[dashboard] host` and the dashboard's routes, served on that host over HTTPS.
    dashboard: Option<(String, axum::Router)>,
    /// Built once: protocol settings and limits apply to every connection.
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    /// Time a client has for its TLS handshake (as for its request head).
    handshake_timeout: Duration,
    /// How long a connection may be silent before it is closed.
    silence: crate::connection::Silence,
    /// Flips to `true` once on shutdown; accept loops stop, connections drain.
    shutdown: watch::Receiver<bool>,
    /// Tracks connection tasks so shutdown can wait for them.
    connections: TaskTracker,
}

/// A running server.
pub struct ServerHandle {
    pub http_addrs: Vec<SocketAddr>,
    pub tls_addrs: Vec<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    admin: Option<JoinHandle<()>>,
    retention_job: JoinHandle<()>,
    /// The GA sender, the counts writer and the rollup job.
    background: Vec<JoinHandle<()>>,
    workers: workers::Workers,
    grace: Duration,
    /// Held while the server runs: one process per data directory.
    _lock: std::fs::File,
}

/// Binds every listener of `config` and starts serving.
pub async fn start(config: Config) -> Result<ServerHandle, StartError> {
    start_with_metrics(config, Arc::new(Metrics::new())).await
}

pub async fn start_with_metrics(
    config: Config,
    metrics: Arc<Metrics>,
) -> Result<ServerHandle, StartError> {
    // Every connection is a file descriptor; the soft limit (often 1024) would stop
    // accepts long before memory does. Raised to the hard limit, as nginx's
    // `worker_rlimit_nofile` would be set.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    crate::secrets::private_dir(&config.server.data_dir).map_err(|source| StartError::DataDir {
        path: config.server.data_dir.clone(),
        source,
    })?;
    let lock = lock_data_dir(&config.server.data_dir)?;
    let server = config.server.clone();
    let key = Arc::new(
        CookieKey::for_server(&server).map_err(|source| StartError::Key {
            path: server.data_dir.clone(),
            source,
        })?,
    );
    let store = Store::open(&config.storage.url, &server.data_dir).await?;
    crate::consent::assets::warm();
    let admin_token = crate::dashboard::auth::AdminToken::load_or_create(&server.data_dir)
        .map_err(|source| StartError::AdminToken {
            path: server.data_dir.clone(),
            source,
        })?;
    let retention = config.retention.clone();
    let geo = match &config.geoip.database {
        Some(path) => crate::privacy::GeoDb::open(path).map_err(StartError::Geo)?,
        None => crate::privacy::GeoDb::default(),
    };
    let funnel = Arc::new(crate::store::funnel::FunnelCounter::default());
    let ga_wake = Arc::new(tokio::sync::Notify::new());
    let collector = Arc::new(crate::collect::Collector::new(
        store.clone(),
        geo,
        Arc::clone(&funnel),
        Arc::clone(&ga_wake),
        &config.collect,
    ));
    let ga_targets: crate::ga::forwarder::Targets =
        Arc::new(ArcSwap::from_pointee(ga_targets(&config)));
    let config_notice: Option<Arc<str>> = config.dashboard.notice.as_deref().map(Arc::from);
    let dashboard_host = config
        .dashboard
        .host
        .as_deref()
        .map(str::to_ascii_lowercase);
    let stats_sites: crate::stats::rollup::Sites = Arc::new(ArcSwap::from_pointee(
        crate::stats::rollup::sites_of(&config),
    ));
    let ga_bounds = crate::ga::forwarder::Bounds {
        limit: config.collect.ga_queue_limit,
        max_age: config.collect.ga_max_age,
    };
    let acme = crate::acme::Acme::new(&config, &store).await;
    let acme_config = config.acme.clone();
    let state = Arc::new(ArcSwap::from_pointee(State::build(
        config, &metrics, &key, &store, &collector, &acme,
    )?));
    let tls = if server.tls_listen.is_empty() {
        None
    } else {
        Some(TlsAcceptor::from(Arc::new(tls::server_config(
            Arc::clone(&state),
            Arc::clone(&acme),
            acme_config.challenge == crate::config::Challenge::TlsAlpn01,
        )?)))
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let admin_state = crate::dashboard::Admin {
        metrics: Arc::clone(&metrics),
        store: store.clone(),
        token: Arc::new(admin_token),
        sites: Arc::clone(&stats_sites),
        open_days: Arc::default(),
        logins: Arc::default(),
        notice: config_notice,
    };
    let shared = Arc::new(Shared {
        dashboard: dashboard_host.map(|host| (host, crate::dashboard::router(admin_state.clone()))),
        state,
        metrics: Arc::clone(&metrics),
        key,
        store: store.clone(),
        collector: Arc::clone(&collector),
        ga_targets: Arc::clone(&ga_targets),
        acme: Arc::clone(&acme),
        stats_sites: Arc::clone(&stats_sites),
        builder: connection_builder(&server),
        tls,
        handshake_timeout: server.timeouts.header_read,
        silence: crate::connection::Silence {
            first_request: server.timeouts.header_read,
            keep_alive: server.timeouts.keep_alive,
        },
        shutdown: shutdown_rx.clone(),
        connections: TaskTracker::new(),
    });

    let worker_count = server.worker_count();
    let mut per_worker: Vec<Vec<_>> = (0..worker_count).map(|_| Vec::new()).collect();
    let mut http_addrs = Vec::new();
    let mut tls_addrs = Vec::new();
    let listeners = (server.listen.iter().map(|a| (*a, workers::Kind::Plain)))
        .chain(server.tls_listen.iter().map(|a| (*a, workers::Kind::Tls)));
    for (addr, kind) in listeners {
        let sockets = workers::bind(addr, worker_count)
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = sockets
            .first()
            .and_then(|l| l.local_addr().ok())
            .unwrap_or(addr);
        match kind {
            workers::Kind::Plain => http_addrs.push(local),
            workers::Kind::Tls => tls_addrs.push(local),
        }
        for (worker, socket) in per_worker.iter_mut().zip(sockets) {
            worker.push((socket, kind));
        }
    }
    let (admin, admin_addr) = match server.admin_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            let local = listener.local_addr().unwrap_or(addr);
            let task = tokio::spawn(crate::dashboard::serve(
                listener,
                admin_state,
                shared.silence,
                shutdown_rx.clone(),
            ));
            (Some(task), Some(local))
        }
        None => (None, None),
    };
    let workers = workers::spawn(per_worker, &shared).map_err(StartError::Worker)?;
    let retention_job = tokio::spawn(crate::store::retention::run(
        store.clone(),
        retention,
        shutdown_rx.clone(),
    ));
    let ga_sender = tokio::spawn(crate::ga::forwarder::run(
        store.clone(),
        ga_targets,
        Arc::clone(&metrics),
        ga_bounds,
        ga_wake,
        shutdown_rx.clone(),
    ));
    let rollup_job = tokio::spawn(crate::stats::rollup::run(
        store.clone(),
        stats_sites,
        shutdown_rx.clone(),
    ));
    let acme_job = tokio::spawn(crate::acme::run(
        acme,
        acme_config,
        Arc::clone(&metrics),
        shutdown_rx.clone(),
    ));
    let funnel_job = tokio::spawn(flush_counts(
        funnel,
        Arc::clone(&metrics),
        store.clone(),
        shutdown_rx,
    ));
    for addr in &http_addrs {
        tracing::info!(%addr, "listening for HTTP");
    }
    for addr in &tls_addrs {
        tracing::info!(%addr, "listening for HTTPS");
    }
    if let Some(addr) = admin_addr {
        tracing::info!(
            %addr,
            token = %server.data_dir.join(crate::dashboard::auth::TOKEN_FILE).display(),
            "admin listening; the consent-record API needs the token in this file"
        );
    }
    Ok(ServerHandle {
        http_addrs,
        tls_addrs,
        admin_addr,
        shared,
        shutdown_tx,
        admin,
        retention_job,
        background: vec![ga_sender, funnel_job, rollup_job, acme_job],
        workers,
        grace: server.timeouts.shutdown_grace,
        _lock: lock,
    })
}

/// Each forwarding site's GA target. Validation made sure the secrets exist; one that
/// vanished since (an unset variable) is logged and that site does not forward.
fn ga_targets(config: &Config) -> std::collections::HashMap<String, crate::ga::Target> {
    let mut targets = std::collections::HashMap::new();
    for site in &config.sites {
        match crate::ga::Target::of(site) {
            Some(Ok(target)) => {
                targets.insert(site.name.clone(), target);
            }
            Some(Err(message)) => {
                tracing::error!(site = %site.name, problem = %message, "GA forwarding off for this site");
            }
            None => {}
        }
    }
    targets
}

/// Writes the consent funnel's and the proof of enforcement's counts every five seconds,
/// and once more at shutdown.
async fn flush_counts(
    funnel: Arc<crate::store::funnel::FunnelCounter>,
    metrics: Arc<Metrics>,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) {
    let flush = || async {
        funnel.flush(&store).await;
        let proof = metrics.proof.take();
        if !proof.is_empty()
            && let Err(e) = store.add_enforcement(&proof).await
        {
            tracing::error!(error = %e, "cannot write the proof of enforcement; kept for the next try");
            metrics.proof.restore(proof);
        }
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => flush().await,
            _ = shutdown.changed() => {
                flush().await;
                return;
            }
        }
    }
}

/// Takes the data directory's lock file for as long as the server runs, so a second
/// process cannot use the same directory (its store, its key) at the same time.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    use std::io::Write as _;
    let path = dir.join("consent-proxy.lock");
    let locked = |source| StartError::Locked {
        path: path.clone(),
        source,
    };
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(locked)?
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    file.try_lock().map_err(|e| {
        locked(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("another process uses this data directory ({e})"),
        ))
    })?;
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(file)
}

/// HTTP/1.1 and HTTP/2 settings: slowloris timeout, head size and count limits.
fn connection_builder(server: &crate::config::ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.timeouts.header_read)
        .max_buf_size(server.limits.max_header_bytes.max(8192))
        .max_headers(server.limits.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(server.limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(server.limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Duration::from_secs(30));
    builder
}

impl ServerHandle {
    /// The configuration currently serving.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.shared.state.load().config)
    }

    /// Replaces the configuration atomically. On error the old one keeps serving.
    /// Listener addresses and protocol limits only change on restart.
    pub fn reload(&self, config: Config) -> Result<(), ConfigError> {
        let old = self.config();
        if old.server.listen != config.server.listen
            || old.server.tls_listen != config.server.tls_listen
            || old.server.admin_listen != config.server.admin_listen
        {
            tracing::warn!("listener addresses changed: they take effect after a restart");
        }
        let targets = ga_targets(&config);
        let state = State::build(
            config,
            &self.shared.metrics,
            &self.shared.key,
            &self.shared.store,
            &self.shared.collector,
            &self.shared.acme,
        )?;
        self.shared.acme.reconfigure(&state.config);
        self.shared.state.store(Arc::new(state));
        self.shared.ga_targets.store(Arc::new(targets));
        self.shared
            .stats_sites
            .store(Arc::new(crate::stats::rollup::sites_of(&self.config())));
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish for up to `shutdown_grace`, then
    /// closes what is left.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(admin) = self.admin {
            let _ = admin.await;
        }
        let _ = self.retention_job.await;
        for job in self.background {
            let _ = job.await;
        }
        let connections = &self.shared.connections;
        connections.close();
        if tokio::time::timeout(self.grace, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.len(),
                "shutdown grace period over; closing remaining connections"
            );
        }
        self.workers.stop().await;
    }
}
