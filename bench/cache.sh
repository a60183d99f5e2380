#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Cache-hit benchmark: hfgate's result cache side by side with nginx proxy_cache of
# POSTs (key = URI + body, proxy_cache_lock on), both in front of the
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
#   NGINX_WORKERS=2            nginx worker_processes (as in bench/nginx-cache.conf)
#   FILL_ENTRIES=100000        entries in the cache file for phase 3 (0: skip phase 3)
#   FILL_TIMEOUT=300           seconds the fill may take at most
#   NO_BUILD=1     skip install-deps and build (use the existing src/hfgate)
#   KEEP_TMP=1     keep the scratch directory (configs, logs, raw wrk outputs, db)
# The last line of output is machine-readable: RESULT key=value ...
# Absolute numbers drift on a shared machine; the hfgate/nginx ratio of one run counts.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$top/bench/lib.sh"
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

require_positive ROUNDS CONNECTIONS THREADS NGINX_WORKERS FILL_TIMEOUT
case $FILL_ENTRIES in ''|*[!0-9]*) die "FILL_ENTRIES must be a number" ;; esac

cd "$top"
bench_setup "nginx-light wrk" nginx wrk curl python3 pgrep
bench_tmp bench
# Run as root, nginx's workers are another user (nobody): they must reach the cache
# directory under the scratch directory (traverse only, no listing).
chmod 711 "$tmp"

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

# Readiness of nginx on a URI that is not the benchmark's, so that the benchmark
# request's first answer below is a MISS that reaches the upstream.
stats_status() { http_status "$1/__fake/stats"; }
# Readiness of hfgate without a request that would fill its cache.
admin_status() { http_status "$1/admin/cache"; }

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

start_fake 2 post_status
start_nginx nginx-cache.conf stats_status
write_hfgate_conf yes "" "max_bytes = 4G"
start_hfgate "$tmp/hfgate.err" admin_status
[ "$(cache_entries)" = 0 ] || { tail -n 20 "$tmp/hfgate.err" >&2; die "hfgate: cache not on or not empty"; }

# --- warm both: the first request goes upstream with the token, then HITs ------
for peer in nginx hfgate; do
	url=$(peer_url "$peer")
	if [ "$peer" = nginx ]; then hdr=X-Cache-Status; else hdr=X-Cache; fi
	fake_reset
	v=$(probe_header "$url" "$hdr")
	[ "$v" = MISS ] || die "$peer: first request: $hdr '$v', expected MISS"
	check_token "$peer"
	# hfgate stores through its writer thread (up to ~50 ms later): the requests
	# until then are MISSes too.
	wait_hit "$peer" "$url" "$hdr"
done

# --- measurements --------------------------------------------------------------
# Upstream calls seen during the hit runs (warm-ups included); must stay 0.
upstream_calls=0

# Runs wrk against a peer ($1) for $2; $3 is the round or "warmup", $4 the phase.
# Appends its figures to $tmp/res-<phase>-<peer> unless it is a warm-up. Adds the
# upstream calls made meanwhile to upstream_calls.
run_wrk() {
	local peer=$1 dur=$2 tag=$3 phase=$4 u0 u1 out
	out=$tmp/wrk-$phase-$peer-$tag.txt
	u0=$(fake_total)
	wrk_load "$peer" "$dur" "$out"
	u1=$(fake_total)
	if [ "$u0" -lt 0 ] || [ "$u1" -lt 0 ]; then
		die "fake upstream stats unavailable"
	fi
	if [ "$u1" != "$u0" ]; then
		echo "cache: WARNING: $((u1 - u0)) upstream calls during the $phase $tag run of $peer" >&2
		upstream_calls=$((upstream_calls + u1 - u0))
	fi
	[ "$tag" = warmup ] && return 0
	wrk_record "$peer" "$out" "$tmp/res-$phase-$peer"
	printf '  %-5s round %s %-7s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  non-2xx %s\n' \
	    "$phase" "$tag" "$peer" "$wrk_rps" "$wrk_p50" "$wrk_p99" "$wrk_non2xx"
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

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

row() {
	printf '%-16s %10s %9s %9s %8s %8s %9s %12s\n' "$@"
}

# Prints the table of one phase; sets n_* and h_* from its medians.
report() {
	local phase=$1 title=$2
	read -r n_rps n_p50 n_p99 n_bad n_serr n_cpu n_us <<<"$(wrk_summary "$tmp/res-$phase-nginx")"
	read -r h_rps h_p50 h_p99 h_bad h_serr h_cpu h_us <<<"$(wrk_summary "$tmp/res-$phase-hfgate")"
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
	client_pid=$!
	fill_entries=$(cache_entries)
	while kill -0 "$client_pid" 2>/dev/null && [ "$fill_entries" -lt "$FILL_ENTRIES" ]; do
		sleep 0.2
		fill_entries=$(cache_entries)
	done
	# SIGINT: wrk stops its threads and prints its summary.
	kill -INT "$client_pid" 2>/dev/null || true
	wait "$client_pid" || true
	client_pid=""
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
hwm_kb=$(status_kb VmHWM "$hfgate_pid")
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
