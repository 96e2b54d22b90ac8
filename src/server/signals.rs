//! Process signals: SIGHUP reloads the configuration file, SIGTERM and SIGINT drain and stop.

use std::path::PathBuf;

use tokio::signal::unix::{SignalKind, signal};

use super::ServerHandle;
use crate::config::Config;

/// Serves until SIGTERM or SIGINT, reloading `config_path` on every SIGHUP.
pub async fn run(handle: ServerHandle, config_path: Option<PathBuf>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
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
