//! Process signals: SIGHUP reloads the configuration file, SIGTERM and SIGINT drain and stop.

use std::path::PathBuf;

use tokio::signal::unix::{SignalKind, signal};

use super::ServerHandle;
use crate::config::Config;

/// The signals, listened to from the moment they are installed: install them before
/// telling anyone the server is up, or a signal in between takes the default action (a
/// SIGTERM would kill the process instead of draining it).
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Serves until SIGTERM or SIGINT, reloading `config_path` on every SIGHUP.
pub async fn run(handle: ServerHandle, config_path: Option<PathBuf>) -> std::io::Result<()> {
    run_with(handle, Signals::install()?, config_path).await
}

/// [`run`] with signals installed earlier.
pub async fn run_with(
    handle: ServerHandle,
    signals: Signals,
    config_path: Option<PathBuf>,
) -> std::io::Result<()> {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match &config_path {
                Some(path) => reload(&handle, path),
                None => tracing::info!("SIGHUP ignored: no configuration file to reload"),
            },
        }
    }
    tracing::info!("shutting down: draining in-flight requests");
    handle.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn reload(handle: &ServerHandle, path: &std::path::Path) {
    match Config::load(path).and_then(|config| handle.reload(config)) {
        Ok(()) => tracing::info!(file = %path.display(), "configuration reloaded"),
        Err(e) => tracing::error!(
            "configuration reload rejected, the previous configuration keeps serving:\n{e}"
        ),
    }
}
