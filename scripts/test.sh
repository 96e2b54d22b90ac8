#!/usr/bin/env bash
# Runs every test of consent-proxy: unit tests, integration tests against the real proxy
# on loopback, and the binary's own tests. Installs what the tests need when it is missing
# (Debian packages via apt-get), so it works on a fresh machine with only Rust on it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v kill >/dev/null 2>&1 || need_apt+=(procps)
# The descriptor-exhaustion test runs the proxy under prlimit.
command -v prlimit >/dev/null 2>&1 || need_apt+=(util-linux)
# Browser tests drive Debian's Chromium over WebDriver; nothing downloads a browser.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The banner's accessibility scan injects axe-core, from the npm registry.
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
# The store's tests run against a real PostgreSQL server as well as SQLite.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# Automatic HTTPS is tested against Pebble, Let's Encrypt's test CA.
command -v pebble >/dev/null 2>&1 || need_apt+=(pebble)
# The systemd unit is checked with systemd-analyze verify.
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing test dependencies: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -f tests/axe/node_modules/axe-core/axe.min.js ]; then
    npm ci --prefix tests/axe --no-audit --no-fund --loglevel=error
fi
# A real country database in MaxMind format (CC0, ip-location-db) for the geo tests.
if [ ! -f tests/geoip/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb ]; then
    npm ci --prefix tests/geoip --no-audit --no-fund --loglevel=error
fi

# A throwaway PostgreSQL server for the store's tests, stopped when the tests end.
if [ -z "${CP_TEST_POSTGRES:-}" ]; then
    eval "$(scripts/postgres.sh)"
    own_pgdir=$CP_TEST_PGDIR
fi

# Library, binary and integration tests. (Benchmarks are compiled by clippy in .ci/run
# and run with `cargo bench`; there are no doc tests.)
log=$(mktemp)
trap 'rm -f "$log"; if [ -n "${own_pgdir:-}" ]; then scripts/postgres.sh stop "$own_pgdir"; fi' EXIT
set +e
cargo test --locked --no-fail-fast --lib --bins --tests "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The Debian package: built with cargo-deb, installed with dpkg -i, checked, removed.
package=skipped
if [ $# -gt 0 ]; then
    echo "package check skipped: tests were filtered"
elif [ "$(id -u)" = 0 ]; then
    if scripts/package.sh; then package=ok; else package=failed; status=1; fi
else
    echo "package check skipped: dpkg -i needs root (run scripts/package.sh as root)"
fi
# One closing line for all test binaries together.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
echo "debian package: $package"
exit "$status"
