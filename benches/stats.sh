#!/usr/bin/env bash
# Statistics benchmark: the 30-day dashboard overview over 10 million raw events (90 days,
# one site), on SQLite and on PostgreSQL, and event ingest while the dashboard is queried.
#
#   benches/stats.sh                          # 10M events, 10 overview rounds
#   EVENTS=1000000 ROUNDS=5 DURATION=20s BACKENDS=sqlite benches/stats.sh
#
# The overview is what a dashboard asks at once: top metrics with the previous period,
# the daily time series, and five breakdowns (pages, sources, countries, devices, entry
# pages) — seven POST /api/v2/query, timed one after the other (their sum is reported:
# a dashboard asking them in parallel waits for less). Ingest while querying: wrk posts
# single page views to /_cp/collect (as benches/collect.sh) while the overview loops.
# Reports database size per million events. Installs nginx (upstream), wrk, sqlite3 and
# PostgreSQL from Debian when missing; PostgreSQL runs with its durable defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-10000000}
ROUNDS=${ROUNDS:-10}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-32}
CP_PORT=18193
UP_PORT=18194

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v curl >/dev/null || need+=(curl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --locked --quiet
BIN=target/release/consent-proxy

WORK=$(mktemp -d /tmp/cp-stats.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PGDIR=
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    [ -n "$PGDIR" ] && scripts/postgres.sh stop "$PGDIR"
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/nginx.conf" <<CONF
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$UP_PORT; location / { return 200 "ok"; } } }
CONF
"$NGINX" -c "$WORK/nginx.conf" -e "$WORK/error.log"

eval "$(DURABLE=1 scripts/postgres.sh)"
PGDIR=$CP_TEST_PGDIR
PG_URL=$CP_TEST_POSTGRES

config() { # backend-url -> config file
    local file="$WORK/$2.toml"
    cat >"$file" <<CONF
[server]
listen = ["127.0.0.1:$CP_PORT"]
admin_listen = "127.0.0.1:$((CP_PORT + 100))"
data_dir = "data-$2"
trusted_proxies = ["127.0.0.1"]
log_format = "json"

[storage]
url = "$1"

[collect]
requests_per_minute = 1000000000
requests_per_minute_network = 1000000000

[[site]]
name = "bench"
hosts = ["bench.test"]
upstream = "http://127.0.0.1:$UP_PORT"
jurisdiction = "nl"
CONF
    echo "$file"
}

QUERIES=(
  '{"site_id":"bench.test","metrics":["visitors","visits","pageviews","views_per_visit","bounce_rate","visit_duration"],"date_range":"30d","include":{"comparisons":{"mode":"previous_period"}}}'
  '{"site_id":"bench.test","metrics":["visitors","pageviews"],"date_range":"30d","dimensions":["time:day"],"include":{"time_labels":true}}'
  '{"site_id":"bench.test","metrics":["visitors","pageviews"],"date_range":"30d","dimensions":["event:page"],"pagination":{"limit":10}}'
  '{"site_id":"bench.test","metrics":["visitors","bounce_rate"],"date_range":"30d","dimensions":["visit:source"],"pagination":{"limit":10}}'
  '{"site_id":"bench.test","metrics":["visitors","percentage"],"date_range":"30d","dimensions":["visit:country"],"pagination":{"limit":10}}'
  '{"site_id":"bench.test","metrics":["visitors","percentage"],"date_range":"30d","dimensions":["visit:device"]}'
  '{"site_id":"bench.test","metrics":["visits","bounce_rate","visit_duration"],"date_range":"30d","dimensions":["visit:entry_page"],"pagination":{"limit":10}}'
)

overview() { # token -> total milliseconds of the seven queries, one after the other
    local total=0 t
    for q in "${QUERIES[@]}"; do
        t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $1" \
            -H 'content-type: application/json' -d "$q" "http://127.0.0.1:$((CP_PORT + 100))/api/v2/query")
        total=$(awk -v a="$total" -v b="$t" 'BEGIN { print a + b * 1000 }')
    done
    echo "$total"
}

stats() { # file of numbers -> "median max"
    sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.0f %.0f\n", v[int((NR + 1) / 2)], v[NR] }'
}

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"events":[{"name":"page_view","url":"http://bench.test/prijzen?utm_source=nieuwsbrief","referrer":"https://www.google.com/"}]}'
wrk.headers["Host"] = "bench.test"
wrk.headers["Origin"] = "http://bench.test"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Accept-Language"] = "nl-NL,nl;q=0.9"
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
request = function()
    wrk.headers["X-Forwarded-For"] = math.random(1, 223) .. "." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
    return wrk.format()
end
LUA

printf '\n%-10s %8s %10s %10s %12s %14s %14s %10s %10s\n' store events seed_s size_MB MB_per_1M overview_ms overview_max "ingest/s*" "p99*"
for backend in ${BACKENDS:-sqlite postgres}; do
    if [ "$backend" = sqlite ]; then url="sqlite://bench.db"; else url="$PG_URL"; fi
    cfg=$(config "$url" "$backend")
    start=$(date +%s.%N)
    "$BIN" seed --config "$cfg" --site bench --events "$EVENTS" --days 90 2>"$WORK/seed-$backend.log"
    seed_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
    today=$(( $(date +%s) / 86400 ))
    days="day >= $((today - 29)) AND day < $((today + 1))"
    if [ "$backend" = sqlite ]; then
        size=$(du -cb "$WORK/data-sqlite"/bench.db* | tail -1 | cut -f1)
        echo "-- SQLite query plan of a rollup breakdown:" >"$WORK/plan-$backend.txt"
        sqlite3 "$WORK/data-sqlite/bench.db" "EXPLAIN QUERY PLAN SELECT value, SUM(visitors) FROM rollups WHERE site = 'bench' AND dim = 'event:page' AND $days GROUP BY value" >>"$WORK/plan-$backend.txt"
        sqlite3 "$WORK/data-sqlite/bench.db" "EXPLAIN QUERY PLAN SELECT ts, visitor FROM events WHERE site = 'bench' AND ts >= 0 AND ts < 1 ORDER BY ts" >>"$WORK/plan-$backend.txt"
    else
        size=$(psql "$url" -Atc "SELECT pg_database_size(current_database())")
        echo "-- PostgreSQL query plan of a rollup breakdown:" >"$WORK/plan-$backend.txt"
        psql "$url" -Atc "EXPLAIN SELECT value, SUM(visitors) FROM rollups WHERE site = 'bench' AND dim = 'event:page' AND $days GROUP BY value" >>"$WORK/plan-$backend.txt"
    fi
    RUST_LOG=warn "$BIN" serve --config "$cfg" 2>"$WORK/serve-$backend.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$((CP_PORT + 100))/healthz" && break
        sleep 0.1
    done
    token=$(cat "$WORK/data-$backend/admin.token")
    # Every query must answer 200 (a failing one would be fast and meaningless).
    for q in "${QUERIES[@]}"; do
        code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
            -H 'content-type: application/json' -d "$q" "http://127.0.0.1:$((CP_PORT + 100))/api/v2/query")
        [ "$code" = 200 ] || { echo "query failed ($code): $q"; cat "$WORK/answer.json"; exit 1; }
    done
    : >"$WORK/ov-$backend"
    for _ in $(seq 1 "$ROUNDS"); do overview "$token" >>"$WORK/ov-$backend"; done
    read -r med max < <(stats "$WORK/ov-$backend")
    # Ingest alone, then while dashboards ask: the overview once a second (a marketer
    # clicking through), then back to back (the worst case: a core busy with queries).
    wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/post.lua" "http://127.0.0.1:$CP_PORT/_cp/collect" >"$WORK/wrk-alone-$backend.out" 2>&1 || true
    alone=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk-alone-$backend.out")
    alone99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-alone-$backend.out")
    : >"$WORK/ovpaced-$backend"
    ( while :; do overview "$token" >>"$WORK/ovpaced-$backend"; sleep 1; done ) &
    loop=$!
    wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/post.lua" "http://127.0.0.1:$CP_PORT/_cp/collect" >"$WORK/wrk-paced-$backend.out" 2>&1 || true
    kill "$loop" 2>/dev/null || true
    wait "$loop" 2>/dev/null || true
    paced=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk-paced-$backend.out")
    paced99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-paced-$backend.out")
    read -r pmed pmax < <(stats "$WORK/ovpaced-$backend")
    : >"$WORK/ovload-$backend"
    ( while :; do overview "$token" >>"$WORK/ovload-$backend"; done ) &
    loop=$!
    wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/post.lua" "http://127.0.0.1:$CP_PORT/_cp/collect" >"$WORK/wrk-$backend.out" 2>&1 || true
    kill "$loop" 2>/dev/null || true
    wait "$loop" 2>/dev/null || true
    rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk-$backend.out")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-$backend.out")
    read -r lmed lmax < <(stats "$WORK/ovload-$backend")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    mb=$(awk -v s="$size" 'BEGIN { printf "%.0f", s / 1048576 }')
    per=$(awk -v s="$size" -v n="$EVENTS" 'BEGIN { printf "%.0f", s / 1048576 / (n / 1000000) }')
    printf '%-10s %8s %10s %10s %12s %14s %14s %10s %10s\n' "$backend" "$EVENTS" "$seed_s" "$mb" "$per" "$med" "$max" "$rps" "$p99"
    echo "           ingest alone: ${alone}/s p99 ${alone99}; with an overview every second: ${paced}/s p99 ${paced99} (overview median ${pmed} ms, max ${pmax} ms)"
    echo "           with overviews back to back: ${rps}/s p99 ${p99} (overview median ${lmed} ms, max ${lmax} ms)"
done
echo "* ingest with overviews back to back"
echo
cat "$WORK"/plan-*.txt
