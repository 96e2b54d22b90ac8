#!/usr/bin/env bash
# The performance table of issue 13, in one command: consent-proxy against nginx on this
# machine, interleaved cell by cell so drift hits both alike, with ratios.
#
#   benches/perf.sh                       # 1 round of 8 s per cell
#   DURATION=15s ROUNDS=2 benches/perf.sh
#
# Upstream: nginx serving files on loopback (one worker). Competitor: nginx `proxy_pass`
# + `sub_filter` injecting one script tag, `gzip on` (nginx's default level 1), as a site
# owner would set it up; for the passthrough cells (757 B JSON, a 20 KB image, a 1 MB
# download), nginx `proxy_pass`. Load: wrk -t1,
# keep-alive, 32 and 1,000 connections. Visitors: undecided (the full rewrite, trackers
# neutralised) and everything granted (only the loader is added); codings: gzip
# (`Accept-Encoding: gzip`) and identity. Also: resident memory with 1,000 idle keep-alive
# connections and the peak while busy. Installs nginx and wrk (Debian) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-1}
CONNS=${CONNS:-"32 1000"}
ONLY=${ONLY:-}   # a regex: only the cells whose "page visitor coding" matches (ONLY=gzip)
# Lines for the proxy's [server.limits], to measure a switch (LIMITS="page_cache_passthrough = false").
LIMITS=${LIMITS:-}
# SCALING=1: instead of the table, req/s and p99 from 1 to 1,000 connections and from 1 KB
# to 1 MB pages, undecided visitor with gzip, nginx sub_filter against consent-proxy.
SCALING=${SCALING:-}
SCALE_SIZES=${SCALE_SIZES:-"1 10 100 1024"}   # KB; e.g. SCALE_SIZES=1 SCALE_CONNS=1 for one cell
SCALE_CONNS=${SCALE_CONNS:-"1 10 100 1000"}
# UPSTREAM_GZIP=1: the upstream compresses (nginx `gzip on`, `gzip_proxied any`: pages and JSON, as most
# origins are set up); nginx `sub_filter` asks it for identity, as `sub_filter` requires. Adds a
# cell: the JSON to a visitor accepting gzip (compressed by the upstream, its ETag weakened).
UPSTREAM_GZIP=${UPSTREAM_GZIP:-}
# UPSTREAM_ETAG=0: the upstream sends no `ETag`, only `Last-Modified` (nginx `etag off`, Apache
# `FileETag None`): the proxy then revalidates by date.
UPSTREAM_ETAG=${UPSTREAM_ETAG:-1}
UP_PORT=18180
SUB_PORT=18181   # nginx proxy_pass + sub_filter + gzip
PX_PORT=18182    # nginx proxy_pass (passthrough)
CP_PORT=18183

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# BIN=path/to/consent-proxy measures another build (an A/B against main) instead.
if [ -z "${BIN:-}" ]; then
    cargo build --release --locked --quiet
    BIN=target/release/consent-proxy
fi

WORK=$(mktemp -d /tmp/cp-perf.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for d in up sub px; do
        [ -f "$WORK/$d/nginx.pid" ] && kill "$(cat "$WORK/$d/nginx.pid")" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/www" "$WORK/up" "$WORK/sub" "$WORK/px" "$WORK/cp"

# --- content: the demo page's head (gtag, GTM, Meta pixel) and a body to 6 KB / 150 KB --
page() { # bytes: sections until the page reaches about this size
    local head section size i=0
    head=$(sed -n '1,/<body>/p' assets/demo/index.html)
    printf '%s\n' "$head"
    size=${#head}
    while [ "$size" -lt $(($1 - 200)) ]; do
        i=$((i + 1))
        section="<section class=\"row\"><h2>Zakelijke telefonie $i</h2><p>Vast nummer op je mobiel, keuzemenu, wachtrij en nummerbehoud; binnen een dag overgezet.</p><a href=\"/tarieven.html#$i\">Meer</a></section>"
        printf '%s\n' "$section"
        size=$((size + ${#section} + 1))
    done
    echo "</body></html>"
}
page 6144 >"$WORK/www/home.html"
for kb in 1 10 100 1024; do page $((kb * 1024)) >"$WORK/www/page-${kb}k.html"; done
page 153600 >"$WORK/www/pricing.html"
python3 -c 'import json; print(json.dumps({"plans":[{"id":i,"name":"Zakelijk %d" % i,"price":9.95+i,"minutes":100*i} for i in range(12)]})[:757])' >"$WORK/www/plans.json"
# Passthrough bodies that are not text: an image and a 1 MB download (incompressible bytes).
head -c 20480 /dev/urandom >"$WORK/www/logo.png"
head -c 1048576 /dev/urandom >"$WORK/www/tarieven.pdf"
# A site's files were written before the run, as on a real origin: a `Last-Modified` of
# seconds ago is no validator (RFC 9110 §8.8.2.2), one of an hour ago is.
touch -d '1 hour ago' "$WORK"/www/*

nginx_common() {
    cat <<CONF
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; multi_accept on; }
worker_rlimit_nofile 16384;
CONF
}
{
    nginx_common "$WORK/up"
    cat <<CONF
worker_processes 1;
http {
    access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
    types { text/html html; application/json json; image/png png; application/pdf pdf; }
    ${UPSTREAM_GZIP:+gzip on; gzip_vary on; gzip_proxied any; gzip_types application/json;}
    $([ "$UPSTREAM_ETAG" = 0 ] && echo "etag off;")
    server { listen 127.0.0.1:$UP_PORT; root $WORK/www; }
}
CONF
} >"$WORK/up/nginx.conf"
nginx_proxy() { # dir port extra
    nginx_common "$1"
    cat <<CONF
worker_processes auto;
http {
    access_log $1/access.log;
    tcp_nodelay on; keepalive_requests 1000000;
    upstream site { server 127.0.0.1:$UP_PORT; keepalive 256; }
    server {
        listen 127.0.0.1:$2;
        location / {
            proxy_pass http://site;
            proxy_http_version 1.1;
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            $3
        }
    }
}
CONF
}
nginx_proxy "$WORK/sub" "$SUB_PORT" "proxy_set_header Accept-Encoding \"\"; gzip on; sub_filter '<head>' '<head><script src=\"/_cp/banner.js\" defer></script>'; sub_filter_once on;" >"$WORK/sub/nginx.conf"
nginx_proxy "$WORK/px" "$PX_PORT" "" >"$WORK/px/nginx.conf"
LIMITS_TABLE=${LIMITS:+$'[server.limits]\n'"$LIMITS"}
cat >"$WORK/cp/proxy.toml" <<CONF
[server]
listen = ["127.0.0.1:$CP_PORT"]
data_dir = "$WORK/cp/data"
log_format = "json"
$LIMITS_TABLE

[[site]]
name = "bench"
hosts = ["127.0.0.1"]
upstream = "http://127.0.0.1:$UP_PORT"
jurisdiction = "nl"
CONF

for d in up sub px; do "$NGINX" -c "$WORK/$d/nginx.conf"; done
"$BIN" serve --config "$WORK/cp/proxy.toml" 2>"$WORK/cp/access.log" &
CP_PID=$!
PIDS+=("$CP_PID")
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    exit 1
}
for p in $UP_PORT $SUB_PORT $PX_PORT $CP_PORT; do wait_port "$p"; done
for p in $SUB_PORT $CP_PORT; do
    curl -sf -H 'Accept-Encoding: gzip' -o /dev/null "http://127.0.0.1:$p/home.html" || { echo "port $p does not serve" >&2; exit 1; }
done
GRANTED=$("$BIN" consent-cookie --config "$WORK/cp/proxy.toml" --site bench --grant preferences,analytics,marketing)

parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        END { printf "%.0f %.3f\n", rps, p99 }
    '
}
run() { # port path conns coding cookie
    local args=(-t1 -c"$3" -d"$DURATION" --latency)
    [ "$4" = gzip ] && args+=(-H "Accept-Encoding: gzip")
    # A browser asking for a page says so (Chromium's navigation `Accept`).
    case "$2" in *.html) args+=(-H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8") ;; esac
    [ -n "$5" ] && args+=(-H "Cookie: $5")
    local out
    out=$(wrk "${args[@]}" "http://127.0.0.1:$1/$2" 2>&1)
    if echo "$out" | grep -q "Non-2xx"; then echo "errors from port $1: $out" >&2; exit 1; fi
    echo "$out" | parse_wrk
}

# --- memory first, on fresh processes: 1,000 idle keep-alive connections -------------
status_kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$2/status"; } # VmRSS|VmHWM pid
rss_kib() { status_kib VmRSS "$1"; }
nginx_sum() { # VmRSS|VmHWM, master pid file → sum over its workers (each worker's own figure)
    local sum=0
    for pid in $(pgrep -P "$(cat "$2")"); do sum=$((sum + $(status_kib "$1" "$pid"))); done
    echo "$sum"
}
idle() { # port → RSS measured by the caller while 1,000 connections sit idle
    python3 - "$1" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /plans.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    s.recv(65536)
    socks.append(s)
print("ready", flush=True)
time.sleep(8)
PY
}
before_cp=$(rss_kib "$CP_PID")
idle "$CP_PORT" >"$WORK/idle-cp" ; IDLE=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/idle-cp" 2>/dev/null && break; sleep 0.1; done
during_cp=$(rss_kib "$CP_PID")
wait "$IDLE"
before_nx=$(nginx_sum VmRSS "$WORK/px/nginx.pid")
idle "$PX_PORT" >"$WORK/idle-nx" ; IDLE=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/idle-nx" 2>/dev/null && break; sleep 0.1; done
during_nx=$(nginx_sum VmRSS "$WORK/px/nginx.pid")
wait "$IDLE"

RESULTS="$WORK/results.txt"
if [ -n "$SCALING" ]; then
    echo "scaling: undecided visitor, gzip; $ROUNDS round(s) x $DURATION per cell, wrk -t1"
    : >"$RESULTS"
    for round in $(seq 1 "$ROUNDS"); do
        for kb in $SCALE_SIZES; do
            for c in $SCALE_CONNS; do
                n=$(run "$SUB_PORT" "page-${kb}k.html" "$c" gzip "")
                p=$(run "$CP_PORT" "page-${kb}k.html" "$c" gzip "")
                echo "$kb $c $n $p" | tee -a "$RESULTS"
            done
        done
    done
    echo
    echo "| page | conns | nginx req/s | consent-proxy req/s | ratio | nginx p99 ms | consent-proxy p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    awk '
        { key = $1 "|" $2; n[key]++; nr[key] += $3; np[key] += $4; cr[key] += $5; cp[key] += $6
          if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
        END {
            for (i = 1; i <= k; i++) {
                key = order[i]; split(key, f, "|"); c = n[key]
                size = f[1] == 1024 ? "1 MB" : f[1] " KB"
                printf "| %s | %s | %.0f | %.0f | **%.2f×** | %.2f | %.2f |\n", size, f[2], nr[key]/c, cr[key]/c, cr[key]/nr[key], np[key]/c, cp[key]/c
            }
        }' "$RESULTS"
    exit 0
fi
: >"$RESULTS"
CELLS=("home.html undecided gzip" "pricing.html undecided gzip" "home.html undecided identity"
       "pricing.html undecided identity" "home.html granted gzip" "home.html granted identity"
       "pricing.html granted gzip" "plans.json passthrough identity"
       "logo.png passthrough identity" "tarieven.pdf passthrough identity")
# A compressing upstream gzips the JSON for a visitor accepting gzip (and weakens its ETag).
[ -n "$UPSTREAM_GZIP" ] && CELLS+=("plans.json passthrough gzip")
echo "pages: $(wc -c <"$WORK/www/home.html") B, $(wc -c <"$WORK/www/pricing.html") B, json $(wc -c <"$WORK/www/plans.json") B, png $(wc -c <"$WORK/www/logo.png") B, pdf $(wc -c <"$WORK/www/tarieven.pdf") B; $ROUNDS round(s) x $DURATION per cell, wrk -t1"
for round in $(seq 1 "$ROUNDS"); do
    for c in $CONNS; do
        for cell in "${CELLS[@]}"; do
            [ -n "$ONLY" ] && ! echo "$cell" | grep -Eq "$ONLY" && continue
            set -- $cell
            path=$1 visitor=$2 coding=$3
            cookie=""
            [ "$visitor" = granted ] && cookie=$GRANTED
            competitor=$SUB_PORT
            [ "$visitor" = passthrough ] && competitor=$PX_PORT
            n=$(run "$competitor" "$path" "$c" "$coding" "")
            p=$(run "$CP_PORT" "$path" "$c" "$coding" "$cookie")
            echo "$path $visitor $coding $c $n $p" | tee -a "$RESULTS"
        done
    done
done

echo
echo "| page, visitor, coding | conns | nginx req/s | consent-proxy req/s | ratio | nginx p99 ms | consent-proxy p99 ms |"
echo "|---|---|---|---|---|---|---|"
awk '
    { key = $1 " " $2 " " $3 "|" $4; n[key]++; nr[key] += $5; np[key] += $6; cr[key] += $7; cp[key] += $8
      if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
    END {
        for (i = 1; i <= k; i++) {
            key = order[i]; split(key, f, "|"); c = n[key]
            printf "| %s | %s | %.0f | %.0f | **%.2f×** | %.2f | %.2f |\n", f[1], f[2], nr[key]/c, cr[key]/c, cr[key]/nr[key], np[key]/c, cp[key]/c
        }
    }' "$RESULTS"


# --- the report ------------------------------------------------------------------------
peak_cp=$(status_kib VmHWM "$CP_PID")
peak_nx=$(( $(nginx_sum VmHWM "$WORK/px/nginx.pid") + $(nginx_sum VmHWM "$WORK/sub/nginx.pid") ))
echo
echo "| memory | nginx (workers) | consent-proxy |"
echo "|---|---|---|"
echo "| RSS at rest, fresh process | $((before_nx / 1024)) MB | $((before_cp / 1024)) MB |"
echo "| RSS with 1,000 idle keep-alive connections | $((during_nx / 1024)) MB | $((during_cp / 1024)) MB |"
echo "| per idle connection | $(( (during_nx - before_nx) / 1000 )) KiB | $(( (during_cp - before_cp) / 1000 )) KiB |"
echo "| peak RSS over the whole run (1,000 busy connections included; nginx: both proxies' workers, each worker's own peak) | $((peak_nx / 1024)) MB | $((peak_cp / 1024)) MB |"
