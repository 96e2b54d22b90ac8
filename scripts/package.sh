#!/usr/bin/env bash
# Builds the Debian package with cargo-deb and proves it: installs it with dpkg -i, checks
# the binary, the system user, the example configuration and the systemd unit as
# installed, then removes it again. Needs root (as apt-get in scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "package: needs root to install the package with dpkg -i" >&2
    exit 1
fi
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked --version 3.8.0
export DEBIAN_FRONTEND=noninteractive
command -v adduser >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq adduser; }

# Symbols go to a compressed .debug file beside the stripped binary: backtraces keep
# their line numbers, the binary stays small.
# cargo deb prints the package's path last (under CARGO_TARGET_DIR when that is set).
deb=$(cargo deb --locked --separate-debug-symbols --compress-debug-symbols=zlib | tail -n 1)
test -f "$deb"
echo "package: built $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'

# A machine that already runs consent-proxy from the package is left alone.
if dpkg-query -W -f='${Status}' consent-proxy 2>/dev/null | grep -q "ok installed"; then
    echo "package: consent-proxy is already installed here; not touching it" >&2
    exit 1
fi
trap 'dpkg --purge consent-proxy >/dev/null 2>&1 || true' EXIT
dpkg -i "$deb"

test "$(command -v consent-proxy)" = /usr/bin/consent-proxy
/usr/bin/consent-proxy --version
getent passwd consent-proxy >/dev/null
test -f /etc/consent-proxy/config.toml
/usr/bin/consent-proxy check-config /etc/consent-proxy/config.toml
unit=$(dpkg -L consent-proxy | grep '/consent-proxy\.service$')
out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "package: systemd-analyze verify complained:" >&2
    echo "$out" >&2
    exit 1
fi
# Installed, not started: the configuration needs the owner's hosts first.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled consent-proxy >/dev/null 2>&1; then
    echo "package: the unit must not be enabled on install" >&2
    exit 1
fi
dpkg --purge consent-proxy
trap - EXIT
test ! -e /usr/bin/consent-proxy
echo "package: ok ($unit verified; installed and removed cleanly)"
