//! What ships for a server: the systemd unit passes `systemd-analyze verify` and holds
//! the hardening a site owner expects, and it agrees with the example configuration.
//! (The Debian package itself is built and installed by `scripts/package.sh`.)

use std::process::Command;

const UNIT: &str = include_str!("../contrib/consent-proxy.service");
const EXAMPLE: &str = include_str!("../config/example.toml");

#[test]
fn the_systemd_unit_verifies_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Verified as shipped, with the binary where this build put it.
    let unit = UNIT.replace(
        "/usr/bin/consent-proxy",
        env!("CARGO_BIN_EXE_consent-proxy"),
    );
    let path = dir.path().join("consent-proxy.service");
    std::fs::write(&path, unit).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd; scripts/test.sh installs it)");
    let complaints =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{complaints}");
    // Unknown keys are only warnings to systemd; here they are failures.
    assert!(complaints.trim().is_empty(), "{complaints}");
}

#[test]
fn the_unit_runs_unprivileged_hardened_and_reloads_with_sighup() {
    let has = |line: &str| UNIT.lines().any(|l| l.trim() == line);
    for line in [
        "User=consent-proxy",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "StateDirectory=consent-proxy",
        "ProtectSystem=strict",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/bin/consent-proxy serve --config /etc/consent-proxy/config.toml",
    ] {
        assert!(has(line), "missing `{line}`");
    }
    // The example's data_dir is the unit's StateDirectory, the only writable place.
    assert!(
        EXAMPLE
            .lines()
            .any(|l| l.starts_with("data_dir = \"/var/lib/consent-proxy\"")),
        "example data_dir"
    );
}
