#!/bin/bash
# Cache-hit benchmark: hfgate's result cache side by side with nginx proxy_cache of
# POSTs (the anchor's :18083 peer: key = URI + body, lock on), both in front of the
# offline fake upstream on loopback, under the same wrk load, in one run.
#  1. both are warmed with the request until it is a HIT (hfgate: X-Cache: HIT;
#     nginx: X-Cache-Status: HIT, i.e. $upstream_cache_status);
#  2. hit runs of both, the order alternating each round: req/s, p50/p99, non-2xx,
#     CPU; the fake upstream's request counter must not grow (all runs were hits);
#  3. the cache file is filled through hfgate with FILL_ENTRIES distinct entries
#     (wrk with bench/cache-fill.lua: a distinct body per request, until
#     GET /admin/cache reports enough, bounded by FILL_TIMEOUT), then the hit runs of
#     the one warmed key are repeated against both.
#
# Usage: bench/cache.sh        (as root the first time: installs nginx-light, wrk)
# Environment:
#   DURATION=10s   wrk duration of each measured run
#   ROUNDS=3       measured rounds per phase; peers alternate order, medians reported
#   WARMUP=2s      wrk duration of the warm-up run of each peer in each phase
#   CONNECTIONS=64 THREADS=2   wrk load
#   NGINX_WORKERS=2            nginx worker_processes (as the anchor)
#   FILL_ENTRIES=100000        entries in the cache file for phase 3 (0: skip phase 3)
#   FILL_TIMEOUT=300           seconds the fill may take at most
#   NO_BUILD=1     skip install-deps and build (use the existing src/hfgate)
#   KEEP_TMP=1     keep the scratch directory (configs, logs, raw wrk outputs, db)
# The last line of output is machine-readable: RESULT key=value ...
# Absolute numbers drift on a shared machine; the hfgate/nginx ratio of one run counts.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
NGINX_WORKERS=${NGINX_WORKERS:-2}
FILL_ENTRIES=${FILL_ENTRIES:-100000}
FILL_TIMEOUT=${FILL_TIMEOUT:-300}
MODEL=distilbert-base-uncased-finetuned-sst-2-english
PATH_URI=/models/$MODEL
TOKEN=hf_bench_dummy_token
LUA=$top/bench/post.lua
FILL_LUA=$top/bench/cache-fill.lua
BODY='{"inputs": "I like you. I love you"}'	# the body of bench/post.lua

die() { echo "cache: $*" >&2; exit 1; }

for v in ROUNDS CONNECTIONS THREADS NGINX_WORKERS FILL_TIMEOUT; do
	case ${!v} in ''|*[!0-9]*|0) die "$v must be a positive integer" ;; esac
done
case $FILL_ENTRIES in ''|*[!0-9]*) die "FILL_ENTRIES must be a number" ;; esac

cd "$top"
if [ "${NO_BUILD:-0}" != 1 ]; then
	sh scripts/install-deps.sh nginx-light wrk
	sh scripts/build.sh
fi
PATH=$PATH:/usr/sbin:/sbin	# nginx lives in /usr/sbin
for t in nginx wrk curl python3; do
	command -v "$t" >/dev/null 2>&1 ||
	    die "$t not found (run: sh scripts/install-deps.sh nginx-light wrk)"
done
[ -x src/hfgate ] || die "src/hfgate not built"
[ -x tests/fake_upstream ] || die "tests/fake_upstream not built"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hfgate-bench.XXXXXX")
# Run as root, nginx's workers are another user (nobody): they must reach the cache
# directory under the scratch directory (traverse only, no listing).
chmod 711 "$tmp"
fake_pid="" nginx_pid="" hfgate_pid="" wrk_pid=""

# Stops one process we started: SIGTERM, a bounded wait, then SIGKILL.
stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	set +e
	stop "$wrk_pid"
	stop "$hfgate_pid"
	stop "$nginx_pid"
	stop "$fake_pid"
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "cache: scratch files kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port (the kernel picks it; a tiny race with other programs,
# covered by retrying the start of nginx).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# POSTs the benchmark body once; prints the HTTP status (000 if no answer).
probe() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
	    -H 'Content-Type: application/json' --data-raw "$BODY" "$1$PATH_URI" || true
}

# POSTs the benchmark body once; prints the value of response header $2 ("" if none).
# The request is wrk's (bench/post.lua): no Accept header, which is part of hfgate's key.
probe_header() {
	curl -s -o /dev/null -D - --max-time 2 -H 'Content-Type: application/json' -H 'Accept:' \
	    --data-raw "$BODY" "$1$PATH_URI" 2>/dev/null |
	    awk -v h="$(echo "$2" | tr '[:upper:]' '[:lower:]')" -F': *' '
		{ sub(/\r$/, "") }
		tolower($1) == h { v = $2 }
		END { print v }' || true
}

# Polls until probe() answers 200 (bounded: about 10 s) while the process lives.
wait_ready() {
	local name=$1 pid=$2 url=$3 code=""
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$(probe "$url")
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	echo "cache: $name not ready (last status $code)" >&2
	return 1
}

# Repeats the request until the peer answers it from its cache (bounded: about 10 s).
wait_hit() {
	local name=$1 url=$2 header=$3 v=""
	for _ in $(seq 100); do
		v=$(probe_header "$url" "$header")
		[ "$v" = HIT ] && return 0
		sleep 0.1
	done
	die "$name: no $header: HIT after 10 s (last: '$v')"
}

# A number from a JSON object fetched with GET ($1 url, $2 member).
json_num() {
	curl -s --max-time 5 "$1" | python3 -c '
import json, sys
try:
    print(int(json.load(sys.stdin)[sys.argv[1]]))
except Exception:
    print(-1)' "$2"
}
fake_total() { json_num "$fake_url/__fake/stats" total; }
cache_entries() { json_num "$hfgate_url/admin/cache" entries; }

# --- fake upstream -------------------------------------------------------------
tests/fake_upstream --threads 2 --port 0 >"$tmp/fake.out" 2>"$tmp/fake.err" &
fake_pid=$!
fake_port=""
for _ in $(seq 100); do
	fake_port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$tmp/fake.out")
	[ -n "$fake_port" ] && break
	kill -0 "$fake_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$fake_port" ] || { cat "$tmp/fake.err" >&2; die "fake upstream did not start"; }
fake_url=http://127.0.0.1:$fake_port
wait_ready fake "$fake_pid" "$fake_url" || die "fake upstream not answering"

# --- nginx ---------------------------------------------------------------------
# Readiness is checked on a URI that is not the benchmark's, so that the benchmark
# request's first answer below is a MISS that reaches the upstream.
ngx=$tmp/nginx
mkdir -p "$ngx"
nginx_url=""
for _ in 1 2 3 4 5; do
	nginx_port=$(free_port)
	sed -e "s/@WORKERS@/$NGINX_WORKERS/" -e "s/@UPSTREAM_PORT@/$fake_port/" \
	    -e "s/@LISTEN_PORT@/$nginx_port/" -e "s/@TOKEN@/$TOKEN/" \
	    bench/nginx-cache.conf >"$ngx/nginx.conf"
	nginx -p "$ngx/" -e "$ngx/error.log" -c "$ngx/nginx.conf" 2>>"$ngx/stderr" &
	nginx_pid=$!
	ok=0
	for _ in $(seq 100); do
		kill -0 "$nginx_pid" 2>/dev/null || break
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		    "http://127.0.0.1:$nginx_port/__fake/stats" || true)
		[ "$code" = 200 ] && { ok=1; break; }
		sleep 0.1
	done
	if [ "$ok" = 1 ]; then
		nginx_url=http://127.0.0.1:$nginx_port
		break
	fi
	stop "$nginx_pid"
	nginx_pid=""
done
[ -n "$nginx_url" ] || { cat "$ngx/stderr" "$ngx/error.log" >&2 2>/dev/null; die "nginx did not start"; }

# --- hfgate --------------------------------------------------------------------
printf '%s\n' "$TOKEN" >"$tmp/hf_token"
cat >"$tmp/hfgate.conf" <<EOF
[server]
listen = 127.0.0.1:0
grace_seconds = 1
default_models_file = $top/etc/default-models.tsv

[upstream]
url = $fake_url
token_file = $tmp/hf_token

[cache]
enabled = yes
db = $tmp/cache.db
max_bytes = 4G
EOF
# One log line per request: it goes to a file, as cheap as logging gets.
src/hfgate -c "$tmp/hfgate.conf" 2>"$tmp/hfgate.err" &
hfgate_pid=$!
hfgate_port=""
for _ in $(seq 100); do
	hfgate_port=$(sed -n 's/.*hfgate: listening on .*:\([0-9][0-9]*\).*/\1/p' "$tmp/hfgate.err" | head -n 1)
	[ -n "$hfgate_port" ] && break
	kill -0 "$hfgate_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$hfgate_port" ] || { cat "$tmp/hfgate.err" >&2; die "hfgate did not start"; }
hfgate_url=http://127.0.0.1:$hfgate_port
for _ in $(seq 100); do
	[ "$(cache_entries)" -ge 0 ] && break
	kill -0 "$hfgate_pid" 2>/dev/null || break
	sleep 0.1
done
[ "$(cache_entries)" = 0 ] || { tail -n 20 "$tmp/hfgate.err" >&2; die "hfgate: cache not on or not empty"; }

# --- warm both: the first request goes upstream with the token, then HITs ------
for peer in nginx hfgate; do
	eval "url=\$${peer}_url"
	if [ "$peer" = nginx ]; then hdr=X-Cache-Status; else hdr=X-Cache; fi
	curl -s -o /dev/null -X POST "$fake_url/__fake/reset"
	v=$(probe_header "$url" "$hdr")
	[ "$v" = MISS ] || die "$peer: first request: $hdr '$v', expected MISS"
	curl -s "$fake_url/__fake/requests" | grep -q "Bearer $TOKEN" ||
	    die "$peer: token not injected upstream"
	# hfgate stores through its writer thread (up to ~50 ms later): the requests
	# until then are MISSes too.
	wait_hit "$peer" "$url" "$hdr"
done

# --- measurements --------------------------------------------------------------
hz=$(getconf CLK_TCK)

# utime+stime (clock ticks) summed over the given pids (all threads of each).
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# pids whose CPU counts for a peer: nginx's workers (not the master, nor the cache
# manager and loader, which come and go).
peer_pids() {
	local p
	case $1 in
	nginx)
		for p in $(pgrep -P "$nginx_pid"); do
			if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'worker process'
			then
				printf '%s ' "$p"
			fi
		done
		;;
	hfgate) echo "$hfgate_pid" ;;
	esac
}

# wrk latency value (e.g. 812.00us, 1.23ms, 2.01s) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
		else if (u == "m") n *= 60000;
		printf "%.3f", n }'
}

# Upstream calls seen during the hit runs (warm-ups included); must stay 0.
upstream_calls=0

# Runs wrk against a peer ($1) for $2; $3 is the round or "warmup", $4 the phase.
# Appends "rps p50_ms p99_ms non2xx sockerr cpu_ticks requests" to $tmp/res-<phase>-<peer>
# unless it is a warm-up. Adds the upstream calls made meanwhile to upstream_calls.
run_wrk() {
	local peer=$1 dur=$2 tag=$3 phase=$4 url pids c0 c1 u0 u1 out rps p50 p99 non2xx
	local sockerr nreq
	eval "url=\$${peer}_url"
	pids=$(peer_pids "$peer")
	out=$tmp/wrk-$phase-$peer-$tag.txt
	u0=$(fake_total)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	# In the background so that a signal to this script is handled at once.
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --latency -s "$LUA" "$url$PATH_URI" >"$out" 2>&1 &
	wrk_pid=$!
	wait "$wrk_pid" || { cat "$out" >&2; die "wrk failed against $peer"; }
	wrk_pid=""
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	u1=$(fake_total)
	if [ "$u0" -lt 0 ] || [ "$u1" -lt 0 ]; then
		die "fake upstream stats unavailable"
	fi
	if [ "$u1" != "$u0" ]; then
		echo "cache: WARNING: $((u1 - u0)) upstream calls during the $phase $tag run of $peer" >&2
		upstream_calls=$((upstream_calls + u1 - u0))
	fi
	[ "$tag" = warmup ] && return 0
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	[ -n "$rps" ] || { cat "$out" >&2; die "no result from wrk against $peer"; }
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
	nreq=$(awk '/ requests in / { print $1 }' "$out")
	echo "$rps $p50 $p99 ${non2xx:-0} ${sockerr:-0} $((c1 - c0)) ${nreq:-0}" >>"$tmp/res-$phase-$peer"
	printf '  %-5s round %s %-7s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  non-2xx %s\n' \
	    "$phase" "$tag" "$peer" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

# Warm-up run of each peer, then ROUNDS rounds, the order alternating.
run_phase() {
	local phase=$1 r order peer
	for peer in nginx hfgate; do
		run_wrk "$peer" "$WARMUP" warmup "$phase"
	done
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then order="nginx hfgate"; else order="hfgate nginx"; fi
		for peer in $order; do
			run_wrk "$peer" "$DURATION" "$r" "$phase"
		done
	done
}

# Medians over rounds of rps/p50/p99 (column $1..$3); totals of non-2xx, socket
# errors and CPU; CPU per request in microseconds.
summary() {
	awk -v hz="$hz" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ n++; rps[n] = $1; p50[n] = $2; p99[n] = $3; bad += $4; serr += $5; cpu += $6
	  reqs += $7 }
	END { c = cpu / hz
	      printf "%.0f %.3f %.3f %d %d %.2f %.1f\n", median(rps, n), median(p50, n),
		  median(p99, n), bad, serr, c, (reqs > 0 ? c * 1e6 / reqs : 0) }
	' "$tmp/res-$1"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

row() {
	printf '%-16s %10s %9s %9s %8s %8s %9s %12s\n' "$@"
}

# Prints the table of one phase; sets n_* and h_* from its medians.
report() {
	local phase=$1 title=$2
	read -r n_rps n_p50 n_p99 n_bad n_serr n_cpu n_us <<<"$(summary "$phase-nginx")"
	read -r h_rps h_p50 h_p99 h_bad h_serr h_cpu h_us <<<"$(summary "$phase-hfgate")"
	echo
	echo "$title, POST $PATH_URI, medians of $ROUNDS x $DURATION (CPU: totals over the rounds)"
	row peer 'req/s' 'p50 ms' 'p99 ms' non-2xx sockerr 'CPU s' 'CPU us/req'
	row nginx "$n_rps" "$n_p50" "$n_p99" "$n_bad" "$n_serr" "$n_cpu" "$n_us"
	row hfgate "$h_rps" "$h_p50" "$h_p99" "$h_bad" "$h_serr" "$h_cpu" "$h_us"
	echo "hfgate/nginx throughput ratio: $(ratio "$h_rps" "$n_rps")" \
	    "  CPU per request ratio: $(ratio "$h_us" "$n_us")"
}

echo "cache: fake upstream $fake_url, nginx $nginx_url ($NGINX_WORKERS workers)," \
    "hfgate $hfgate_url; wrk -t$THREADS -c$CONNECTIONS -d$DURATION x $ROUNDS rounds," \
    "$(nproc) CPUs shared by all"

# --- phase 2: hits, one entry in each cache ------------------------------------
run_phase hit
report hit "Cache hits (1 entry in the cache)"
r1_n_rps=$n_rps r1_n_p50=$n_p50 r1_n_p99=$n_p99 r1_n_bad=$n_bad r1_n_cpu=$n_cpu r1_n_us=$n_us
r1_h_rps=$h_rps r1_h_p50=$h_p50 r1_h_p99=$h_p99 r1_h_bad=$h_bad r1_h_cpu=$h_cpu r1_h_us=$h_us
r1_serr=$((n_serr + h_serr))
r1_ratio=$(ratio "$h_rps" "$n_rps")

# --- phase 3: fill hfgate's cache file, hits again -----------------------------
fill_entries=-1 fill_s=0 fill_rate=0 db_kb=0 wal_kb=0
r2_h_rps=0 r2_h_p50=0 r2_h_p99=0 r2_h_bad=0 r2_h_cpu=0 r2_h_us=0
r2_n_rps=0 r2_n_p50=0 r2_n_p99=0 r2_n_bad=0 r2_serr=0 r2_ratio=0
if [ "$FILL_ENTRIES" -gt 0 ]; then
	echo
	echo "cache: filling hfgate's cache with $FILL_ENTRIES distinct entries" \
	    "(at most $FILL_TIMEOUT s)"
	t0=$(date +%s.%N)
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"${FILL_TIMEOUT}s" -s "$FILL_LUA" \
	    "$hfgate_url$PATH_URI" -- fill >"$tmp/wrk-fill.txt" 2>&1 &
	wrk_pid=$!
	fill_entries=$(cache_entries)
	while kill -0 "$wrk_pid" 2>/dev/null && [ "$fill_entries" -lt "$FILL_ENTRIES" ]; do
		sleep 0.2
		fill_entries=$(cache_entries)
	done
	# SIGINT: wrk stops its threads and prints its summary.
	kill -INT "$wrk_pid" 2>/dev/null || true
	wait "$wrk_pid" || true
	wrk_pid=""
	# The writer commits in batches: wait for the last ones (bounded).
	prev=-1
	for _ in $(seq 50); do
		fill_entries=$(cache_entries)
		[ "$fill_entries" = "$prev" ] && break
		prev=$fill_entries
		sleep 0.2
	done
	t1=$(date +%s.%N)
	fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	fill_rate=$(awk -v n="$fill_entries" -v s="$fill_s" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
	fill_bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$tmp/wrk-fill.txt")
	db_kb=$(du -sk "$tmp/cache.db" | awk '{ print $1 }')
	wal_kb=$(du -sk "$tmp/cache.db-wal" 2>/dev/null | awk '{ print $1 }')
	wal_kb=${wal_kb:-0}
	echo "cache: $fill_entries entries in $fill_s s ($fill_rate/s; non-2xx ${fill_bad:-0});" \
	    "cache file $db_kb kB, WAL $wal_kb kB"
	[ "$fill_entries" -ge "$FILL_ENTRIES" ] ||
	    echo "cache: WARNING: only $fill_entries entries after $FILL_TIMEOUT s" >&2
	kill -0 "$hfgate_pid" 2>/dev/null || die "hfgate died during the fill"
	# The warmed key must still be there.
	[ "$(probe_header "$hfgate_url" X-Cache)" = HIT ] ||
	    die "hfgate: the warmed key is no longer a HIT after the fill"

	run_phase full
	report full "Cache hits with $fill_entries entries in hfgate's cache file (nginx: 1 entry)"
	r2_n_rps=$n_rps r2_n_p50=$n_p50 r2_n_p99=$n_p99 r2_n_bad=$n_bad
	r2_h_rps=$h_rps r2_h_p50=$h_p50 r2_h_p99=$h_p99 r2_h_bad=$h_bad r2_h_cpu=$h_cpu
	r2_h_us=$h_us r2_serr=$((n_serr + h_serr))
	r2_ratio=$(ratio "$h_rps" "$n_rps")
fi

kill -0 "$hfgate_pid" 2>/dev/null || die "hfgate died during the benchmark"
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$hfgate_pid/status")
echo
if [ "$upstream_calls" = 0 ]; then
	hits_verified=yes
	echo "Upstream calls during the hit runs: 0 (every request was a hit)." \
	    "  hfgate peak RSS (VmHWM): $hwm_kb kB"
else
	hits_verified=no
	echo "WARNING: $upstream_calls upstream calls during the hit runs: not all were hits." \
	    "  hfgate peak RSS (VmHWM): $hwm_kb kB"
fi
echo "RESULT duration=$DURATION rounds=$ROUNDS connections=$CONNECTIONS" \
    "nginx_rps=$r1_n_rps hfgate_rps=$r1_h_rps ratio=$r1_ratio" \
    "nginx_p50_ms=$r1_n_p50 nginx_p99_ms=$r1_n_p99 hfgate_p50_ms=$r1_h_p50" \
    "hfgate_p99_ms=$r1_h_p99 nginx_non2xx=$r1_n_bad hfgate_non2xx=$r1_h_bad" \
    "sockerr=$r1_serr nginx_cpu_s=$r1_n_cpu hfgate_cpu_s=$r1_h_cpu" \
    "nginx_cpu_us_per_req=$r1_n_us hfgate_cpu_us_per_req=$r1_h_us" \
    "fill_entries=$fill_entries fill_s=$fill_s fill_per_s=$fill_rate db_kb=$db_kb wal_kb=$wal_kb" \
    "full_hfgate_rps=$r2_h_rps full_hfgate_p50_ms=$r2_h_p50 full_hfgate_p99_ms=$r2_h_p99" \
    "full_hfgate_non2xx=$r2_h_bad full_hfgate_cpu_s=$r2_h_cpu" \
    "full_hfgate_cpu_us_per_req=$r2_h_us full_nginx_rps=$r2_n_rps" \
    "full_nginx_p50_ms=$r2_n_p50 full_nginx_p99_ms=$r2_n_p99 full_nginx_non2xx=$r2_n_bad" \
    "full_sockerr=$r2_serr full_ratio=$r2_ratio" \
    "upstream_calls_during_hits=$upstream_calls hits_verified=$hits_verified" \
    "hfgate_vmhwm_kb=$hwm_kb"
