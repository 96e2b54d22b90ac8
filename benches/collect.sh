#!/usr/bin/env bash
# Event ingest benchmark: POST /_cp/collect through HTTP, with the SQLite store, every event
# durable before its answer (group commit), and GA forwarding on (every visitor granted
# analytics, so each event also goes into the GA queue and out to a local GA4 stand-in).
#
#   benches/collect.sh                      # defaults: 2 rounds of 20 s, 32 connections
#   DURATION=30s ROUNDS=3 CONNS=64 EVENTS=1 benches/collect.sh
#
# Side by side in one run, interleaved: nginx answering the same POSTs with `return 204`
# (the floor: an HTTP server doing nothing with them) and consent-proxy. Each request
# carries EVENTS events (default 1, a page view) from a random visitor address (via a
# trusted X-Forwarded-For). Reports requests/s, events/s, p50/p99 latency (wrk --latency),
# the proxy's peak RSS, events stored and GA events sent. Installs nginx and wrk (Debian)
# when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
EVENTS=${EVENTS:-1}
NGINX_PORT=18091
GA_PORT=18092
CP_PORT=18093
UP_PORT=18094

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    echo "installing nginx and wrk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --locked --quiet
BIN=target/release/consent-proxy

WORK=$(mktemp -d /tmp/cp-collect.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# nginx: the floor (answers the POSTs itself), the GA4 stand-in, and the site's upstream.
cat >"$WORK/nginx.conf" <<CONF
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
worker_processes auto;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    client_body_buffer_size 16k;
    server { listen 127.0.0.1:$NGINX_PORT; location / { return 204; } }
    server { listen 127.0.0.1:$GA_PORT; location / { return 204; } }
    server { listen 127.0.0.1:$UP_PORT; location / { return 200 "ok"; } }
}
CONF
"$NGINX" -c "$WORK/nginx.conf" -e "$WORK/error.log"

printf 'bench-secret' >"$WORK/ga.secret"
cat >"$WORK/proxy.toml" <<CONF
[server]
listen = ["127.0.0.1:$CP_PORT"]
admin_listen = "127.0.0.1:$((CP_PORT + 100))"
data_dir = "data"
trusted_proxies = ["127.0.0.1"]
log_format = "json"

[collect]
requests_per_minute = 1000000000
requests_per_minute_network = 1000000000

[[site]]
name = "bench"
hosts = ["bench.test"]
upstream = "http://127.0.0.1:$UP_PORT"
jurisdiction = "nl"
ga = { measurement_id = "G-BENCH1234", endpoint = "http://127.0.0.1:$GA_PORT/mp/collect", api_secret_file = "ga.secret" }
CONF
RUST_LOG=warn "$BIN" serve --config "$WORK/proxy.toml" 2>"$WORK/proxy.log" &
CP_PID=$!
PIDS+=("$CP_PID")
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$((CP_PORT + 100))/healthz" && break
    sleep 0.1
done
COOKIE=$("$BIN" consent-cookie --config "$WORK/proxy.toml" --site bench --grant analytics)

# One request: EVENTS page views of a random visitor.
EVENT='{"name":"page_view","url":"http://bench.test/prijzen?utm_source=nieuwsbrief","referrer":"https://www.google.com/","title":"Prijzen"}'
BODY="{\"events\":[$EVENT"
for _ in $(seq 2 "$EVENTS"); do BODY="$BODY,$EVENT"; done
BODY="$BODY]}"
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Host"] = "bench.test"
wrk.headers["Origin"] = "http://bench.test"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Accept-Language"] = "nl-NL,nl;q=0.9"
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
wrk.headers["Cookie"] = "$COOKIE"
request = function()
    wrk.headers["X-Forwarded-For"] = math.random(1, 223) .. "." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
    return wrk.format()
end
LUA

run() { # name port -> "req/s p50 p99"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$WORK/post.lua" "http://127.0.0.1:$2/_cp/collect" >"$WORK/$1.out" 2>&1 || true
    local rps p50 p99 non2xx
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.out")
    p50=$(awk '$1 == "50%" {print $2}' "$WORK/$1.out")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/$1.out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/$1.out")
    echo "$rps $p50 $p99 ${non2xx:-0}"
}

echo "events per request: $EVENTS, connections: $CONNS, $ROUNDS rounds of $DURATION"
printf '%-14s %-6s %12s %12s %10s %10s %8s\n' target round "req/s" "events/s" p50 p99 non-2xx
for round in $(seq 1 "$ROUNDS"); do
    for target in nginx-204 consent-proxy; do
        port=$NGINX_PORT
        [ "$target" = consent-proxy ] && port=$CP_PORT
        read -r rps p50 p99 non2xx < <(run "$target" "$port")
        events=$(awk -v r="$rps" -v e="$EVENTS" 'BEGIN { printf "%.0f", r * e }')
        printf '%-14s %-6s %12s %12s %10s %10s %8s\n' "$target" "$round" "$rps" "$events" "$p50" "$p99" "$non2xx"
    done
done

# Let the GA sender catch up, then report.
sleep 5
METRICS=$(curl -s "http://127.0.0.1:$((CP_PORT + 100))/metrics")
sent=$(echo "$METRICS" | awk '/^consent_proxy_ga_sent_total/ {s += $2} END {print s + 0}')
accepted=$(echo "$METRICS" | awk '/^consent_proxy_events_accepted_total/ {s += $2} END {print s + 0}')
depth=$(echo "$METRICS" | awk '/^consent_proxy_ga_queue_depth/ {print $2}')
stored=$(python3 -c "import sqlite3; print(sqlite3.connect('$WORK/data/consent-proxy.db').execute('select count(*) from events').fetchone()[0])")
db_mb=$(du -sm "$WORK/data" | cut -f1)
rss=$(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$CP_PID/status")
echo
echo "consent-proxy: events accepted $accepted, stored $stored, sent to GA $sent, GA queue left $depth"
echo "consent-proxy: peak RSS $rss, data directory $db_mb MB"
