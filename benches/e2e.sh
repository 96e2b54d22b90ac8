#!/usr/bin/env bash
# End-to-end benchmark: the upstream directly, nginx `proxy_pass`, and consent-proxy, on
# the same machine in one run, interleaved round by round so drift hits all alike.
#
#   benches/e2e.sh                    # defaults: 2 rounds of 10 s per cell
#   DURATION=20s ROUNDS=3 benches/e2e.sh
#
# Pages: a 50 KB HTML page (the demo page's head with its trackers, and a long body) and a
# 1 MB binary, keep-alive, 32 and 1000 connections. Targets: the upstream itself, nginx
# `proxy_pass`, nginx `proxy_pass` + `sub_filter` injecting one script tag into the page
# (the issue-3 competitor), and consent-proxy (which rewrites the page: loader injected,
# trackers neutralised). LOWMEM=1 adds consent-proxy with 16 KiB upstream reads.
# Reports requests/s, p50 and p99 latency (wrk --latency), the proxies' peak RSS, and
# consent-proxy/nginx ratios. Installs nginx and wrk (Debian) when they are missing.
# "consent-proxy+consent" is consent-proxy for a visitor whose consent cookie grants every
# category: the page is not parsed, only the loader is added (the cost of enforcement is
# the difference to "consent-proxy", an undecided visitor). "consent-proxy+rejected" is a
# visitor who rejected everything and still sends GA's `_ga`: the cookie is verified, the
# page parsed and neutralised, `_ga` stripped and expired on every answer.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-"32 1000"}
THREADS=${THREADS:-2}
UP_PORT=18080
NGINX_PORT=18081
CP_PORT=18082
CPL_PORT=18083   # consent-proxy with 16 KiB upstream reads (lower memory)
SUB_PORT=18084   # nginx proxy_pass + sub_filter

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    echo "installing nginx and wrk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --locked --quiet
BIN=target/release/consent-proxy

WORK=$(mktemp -d /tmp/cp-bench.XXXXXX)
chmod 755 "$WORK"  # nginx workers run as nobody
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/up/nginx.pid" ] && kill "$(cat "$WORK/up/nginx.pid")" 2>/dev/null || true
    [ -f "$WORK/px/nginx.pid" ] && kill "$(cat "$WORK/px/nginx.pid")" 2>/dev/null || true
    [ -f "$WORK/sub/nginx.pid" ] && kill "$(cat "$WORK/sub/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT


# --- content: a 50 KB marketing page (with the usual tags) and a 1 MB binary ---------
mkdir -p "$WORK/www" "$WORK/up" "$WORK/px" "$WORK/sub" "$WORK/cp"
{
    sed -n '1,/<body>/p' assets/demo/index.html
    for i in $(seq 1 235); do
        echo "<section class=\"row\"><h2>Zakelijke telefonie $i</h2><p>Vast nummer op je mobiel, keuzemenu, wachtrij en nummerbehoud; binnen een dag overgezet en maandelijks opzegbaar.</p><a href=\"/tarieven.html#$i\">Meer</a></section>"
    done
    echo "</body></html>"
} >"$WORK/www/page.html"
head -c 1048576 /dev/urandom >"$WORK/www/file.bin"
PAGE_BYTES=$(wc -c <"$WORK/www/page.html")

nginx_common() {
    cat <<CONF
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; multi_accept on; }
CONF
}

# --- upstream: nginx serving the files (one worker, so the proxies get the cores) -----
{
    nginx_common "$WORK/up"
    cat <<CONF
worker_processes 1;
worker_rlimit_nofile 16384;
http {
    access_log off;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 1000000;
    types { text/html html; application/octet-stream bin; }
    server { listen 127.0.0.1:$UP_PORT; root $WORK/www; }
}
CONF
} >"$WORK/up/nginx.conf"

# --- nginx as the competitor: proxy_pass with a keep-alive upstream pool --------------
# nginx_proxy DIR PORT [EXTRA DIRECTIVES]
nginx_proxy() {
    nginx_common "$1"
    cat <<CONF
worker_processes auto;
worker_rlimit_nofile 16384;
http {
    access_log $1/access.log;
    tcp_nodelay on;
    keepalive_requests 1000000;
    upstream site { server 127.0.0.1:$UP_PORT; keepalive 256; }
    server {
        listen 127.0.0.1:$2;
        location / {
            proxy_pass http://site;
            proxy_http_version 1.1;
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;   # the 50 KB page stays in memory (default 8 4k spills to disk)
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            ${3:-}
        }
    }
}
CONF
}
nginx_proxy "$WORK/px" "$NGINX_PORT" >"$WORK/px/nginx.conf"
# The same, injecting one script tag with sub_filter (needs an uncompressed upstream).
nginx_proxy "$WORK/sub" "$SUB_PORT" \
    "proxy_set_header Accept-Encoding \"\"; sub_filter '<head>' '<head><script src=\"/_cp/banner.js\" defer></script>'; sub_filter_once on;" \
    >"$WORK/sub/nginx.conf"

cp_config() { # port, data dir, largest upstream read buffer
    cat <<CONF
[server]
listen = ["127.0.0.1:$1"]
data_dir = "$WORK/cp/$2"
log_format = "json"

[server.limits]
upstream_read_buffer = $3

[[site]]
name = "bench"
hosts = ["127.0.0.1"]
upstream = "http://127.0.0.1:$UP_PORT"
jurisdiction = "nl"
CONF
}
cp_config $CP_PORT data 65536 >"$WORK/cp/proxy.toml"
cp_config $CPL_PORT data-lowmem 16384 >"$WORK/cp/lowmem.toml"

"$NGINX" -c "$WORK/up/nginx.conf"
"$NGINX" -c "$WORK/px/nginx.conf"
"$NGINX" -c "$WORK/sub/nginx.conf"
"$BIN" serve --config "$WORK/cp/proxy.toml" 2>"$WORK/cp/access.log" &
CP_PID=$!
PIDS+=("$CP_PID")
CPL_PID=
if [ -n "${LOWMEM:-}" ]; then
    "$BIN" serve --config "$WORK/cp/lowmem.toml" 2>"$WORK/cp/access-lowmem.log" &
    CPL_PID=$!
    PIDS+=("$CPL_PID")
fi

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    exit 1
}
wait_port $UP_PORT
wait_port $NGINX_PORT
wait_port $CP_PORT
wait_port $SUB_PORT
if [ -n "$CPL_PID" ]; then wait_port $CPL_PORT; fi
for port in $UP_PORT $NGINX_PORT $SUB_PORT $CP_PORT; do
    curl -sf -o /dev/null "http://127.0.0.1:$port/page.html" || { echo "port $port does not serve the page" >&2; exit 1; }
done

# After the proxy has created its signing key: a cookie granting every category.
CONSENTED=$("$BIN" consent-cookie --config "$WORK/cp/proxy.toml" --site bench --grant preferences,analytics,marketing)
REJECTED=$("$BIN" consent-cookie --config "$WORK/cp/proxy.toml" --site bench --grant "")

# wrk's output to "rps p50_ms p99_ms".
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }
    '
}

RESULTS="$WORK/results.txt"
: >"$RESULTS"
targets="upstream:$UP_PORT nginx:$NGINX_PORT nginx-sub_filter:$SUB_PORT consent-proxy:$CP_PORT consent-proxy+consent:$CP_PORT consent-proxy+rejected:$CP_PORT"
if [ -n "$CPL_PID" ]; then targets="$targets cp-16k-reads:$CPL_PORT"; fi
echo "page: $PAGE_BYTES bytes HTML, 1048576 bytes binary; $ROUNDS rounds x $DURATION per cell, wrk -t$THREADS"
for round in $(seq 1 "$ROUNDS"); do
    for c in $CONNS; do
        for path in page.html file.bin; do
            for t in $targets; do
                name=${t%%:*}; port=${t##*:}
                # sub_filter only matters for the HTML page.
                [ "$name" = nginx-sub_filter ] && [ "$path" != page.html ] && continue
                case "$name" in consent-proxy+*) [ "$path" != page.html ] && continue ;; esac
                header=()
                [ "$name" = consent-proxy+consent ] && header=(-H "Cookie: $CONSENTED; _ga=GA1.1.1.1")
                [ "$name" = consent-proxy+rejected ] && header=(-H "Cookie: $REJECTED; _ga=GA1.1.1.1")
                out=$(wrk -t"$THREADS" -c"$c" -d"$DURATION" --latency "${header[@]}" "http://127.0.0.1:$port/$path" 2>&1)
                if echo "$out" | grep -q "Non-2xx"; then echo "$name returned errors: $out" >&2; exit 1; fi
                line=$(echo "$out" | parse_wrk)
                echo "$round $c $path $name $line" | tee -a "$RESULTS"
            done
        done
    done
done

rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
CP_RSS=$(rss_kib "$CP_PID")
CPL_RSS=0
if [ -n "$CPL_PID" ]; then CPL_RSS=$(rss_kib "$CPL_PID"); fi
NGINX_RSS=0
for pid in $(pgrep -f "nginx: worker process" || true); do
    # Only the competitor's workers: their parent is the proxy master.
    if [ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = "$(cat "$WORK/px/nginx.pid")" ]; then
        NGINX_RSS=$((NGINX_RSS + $(rss_kib "$pid")))
    fi
done

echo
echo "| page | conns | target | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
awk '
    { key = $3 "|" $2 "|" $4; rps[key] += $5; p50[key] += $6; p99[key] += $7; n[key]++ ;
      if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
    END {
        for (i = 1; i <= k; i++) {
            key = order[i]; split(key, f, "|")
            printf "| %s | %s | %s | %.0f | %.2f | %.2f |\n", f[1], f[2], f[3], rps[key]/n[key], p50[key]/n[key], p99[key]/n[key]
        }
        print ""
        print "| page | conns | proxy | vs | req/s ratio | p99 ratio |"
        print "|---|---|---|---|---|---|"
        for (i = 1; i <= k; i++) {
            key = order[i]; split(key, f, "|")
            if (f[3] != "consent-proxy" && f[3] != "consent-proxy+consent" && f[3] != "consent-proxy+rejected" && f[3] != "cp-16k-reads") continue
            split("nginx nginx-sub_filter", rivals, " ")
            for (r = 1; r <= 2; r++) {
                nk = f[1] "|" f[2] "|" rivals[r]
                if (!(nk in n)) continue
                printf "| %s | %s | %s | %s | %.2fx | %.2fx |\n", f[1], f[2], f[3], rivals[r], (rps[key]/n[key]) / (rps[nk]/n[nk]), (p99[key]/n[key]) / (p99[nk]/n[nk])
            }
        }
    }
' "$RESULTS"
echo
echo "peak RSS: consent-proxy $((CP_RSS / 1024)) MB; nginx proxy_pass workers (sum) $((NGINX_RSS / 1024)) MB"
if [ -n "$CPL_PID" ]; then echo "peak RSS: consent-proxy with 16 KiB reads $((CPL_RSS / 1024)) MB"; fi
