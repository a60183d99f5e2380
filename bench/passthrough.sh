#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Pass-through benchmark: hfgate side by side with nginx (the reference C reverse
# proxy), both forwarding to the offline fake upstream on loopback, under the same
# wrk load, in one run. Also measures the fake upstream directly (the ceiling).
#
# Usage: bench/passthrough.sh        (as root the first time: installs nginx-light, wrk)
# Environment:
#   DURATION=10s   wrk duration of each measured run
#   ROUNDS=3       measured rounds; peers alternate order each round, medians reported
#   WARMUP=2s      wrk duration of the warm-up run of each peer
#   CONNECTIONS=64 THREADS=2   wrk load
#   NGINX_WORKERS  nginx worker_processes (default: number of CPUs)
#   NO_BUILD=1     skip install-deps and build (use the existing src/hfgate)
#   KEEP_TMP=1     keep the scratch directory (configs, logs, raw wrk outputs)
#   HFGATE_SERVER_LINES="workers = 3"  extra [server] lines for hfgate's config
#   ROUTE=hf       hf: POST /models/{id} (text-classification); chat: POST
#                  /v1/chat/completions, hfgate and nginx in front of the fake's
#                  router (/router), the fake measured at /router/v1/chat/completions
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
NGINX_WORKERS=${NGINX_WORKERS:-$(nproc)}
ROUTE=${ROUTE:-hf}
TOKEN=hf_bench_dummy_token
case $ROUTE in
hf)
	MODEL=distilbert-base-uncased-finetuned-sst-2-english
	PATH_URI=/models/$MODEL
	LUA=$top/bench/post.lua
	BODY='{"inputs": "I like you. I love you"}'
	NGINX_PREFIX=""
	;;
chat)
	PATH_URI=/v1/chat/completions
	LUA=$top/bench/post-chat.lua
	BODY='{"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "I like you. I love you"}], "max_tokens": 8}'
	# Today's router: hfgate's task base, nginx's prefix, the fake's own path.
	HFGATE_UPSTREAM_PATH=/router/hf-inference
	FAKE_PATH_PREFIX=/router
	NGINX_PREFIX=/router/
	;;
*) die "ROUTE must be hf or chat" ;;
esac

require_positive ROUNDS

cd "$top"
bench_setup "nginx-light wrk" nginx wrk curl python3 pgrep
bench_tmp bench

start_fake 2 post_status
start_nginx nginx-passthrough.conf post_status -e "s#@PREFIX@#$NGINX_PREFIX#"
write_hfgate_conf no "${HFGATE_SERVER_LINES:-}"
start_hfgate "$tmp/hfgate.err" post_status

# Both peers must forward the same request with the token injected.
for peer in nginx hfgate; do
	fake_reset
	[ "$(post_status "$(peer_url "$peer")")" = 200 ] || die "$peer: probe failed"
	check_token "$peer"
done
fake_reset

# --- measurements --------------------------------------------------------------
# Runs wrk against a peer; appends its figures to $tmp/res-<peer> unless it is a warm-up.
run_wrk() {
	local peer=$1 dur=$2 tag=$3 out
	out=$tmp/wrk-$peer-$tag.txt
	wrk_load "$peer" "$dur" "$out"
	[ "$tag" = warmup ] && return 0
	wrk_record "$peer" "$out" "$tmp/res-$peer"
	printf '  round %s %-7s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  non-2xx %s\n' \
	    "$tag" "$peer" "$wrk_rps" "$wrk_p50" "$wrk_p99" "$wrk_non2xx"
}

echo "passthrough: fake upstream $fake_url, nginx $nginx_url ($NGINX_WORKERS workers)," \
    "hfgate $hfgate_url; wrk -t$THREADS -c$CONNECTIONS -d$DURATION x $ROUNDS rounds," \
    "$(nproc) CPUs shared by all"
for peer in fake nginx hfgate; do
	run_wrk "$peer" "$WARMUP" warmup
done
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="fake nginx hfgate"; else order="hfgate nginx fake"; fi
	for peer in $order; do
		run_wrk "$peer" "$DURATION" "$r"
	done
done
hwm_kb=$(status_kb VmHWM "$hfgate_pid")
kill -0 "$hfgate_pid" 2>/dev/null || die "hfgate died during the benchmark"

read -r f_rps f_p50 f_p99 f_bad f_serr f_cpu f_us <<<"$(wrk_summary "$tmp/res-fake")"
read -r n_rps n_p50 n_p99 n_bad n_serr n_cpu n_us <<<"$(wrk_summary "$tmp/res-nginx")"
read -r h_rps h_p50 h_p99 h_bad h_serr h_cpu h_us <<<"$(wrk_summary "$tmp/res-hfgate")"
ratio=$(awk -v a="$h_rps" -v b="$n_rps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
cpu_ratio=$(awk -v a="$h_us" -v b="$n_us" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')

echo
echo "Pass-through ($ROUTE), POST $PATH_URI, medians of $ROUNDS x $DURATION (CPU: totals over the rounds)"
printf '%-12s %10s %9s %9s %8s %8s %9s %12s\n' peer 'req/s' 'p50 ms' 'p99 ms' non-2xx \
    sockerr 'CPU s' 'CPU us/req'
printf '%-12s %10s %9s %9s %8s %8s %9s %12s\n' fake-direct "$f_rps" "$f_p50" "$f_p99" \
    "$f_bad" "$f_serr" "$f_cpu" "$f_us"
printf '%-12s %10s %9s %9s %8s %8s %9s %12s\n' nginx "$n_rps" "$n_p50" "$n_p99" \
    "$n_bad" "$n_serr" "$n_cpu" "$n_us"
printf '%-12s %10s %9s %9s %8s %8s %9s %12s\n' hfgate "$h_rps" "$h_p50" "$h_p99" \
    "$h_bad" "$h_serr" "$h_cpu" "$h_us"
echo "(CPU of fake-direct is the fake upstream's; of nginx its workers'; of hfgate its process')"
echo "hfgate/nginx throughput ratio: $ratio   CPU per request ratio: $cpu_ratio" \
    "  hfgate peak RSS (VmHWM): $hwm_kb kB"
echo "RESULT route=$ROUTE duration=$DURATION rounds=$ROUNDS connections=$CONNECTIONS" \
    "fake_rps=$f_rps nginx_rps=$n_rps hfgate_rps=$h_rps ratio=$ratio" \
    "fake_p50_ms=$f_p50 fake_p99_ms=$f_p99" \
    "nginx_p50_ms=$n_p50 nginx_p99_ms=$n_p99 hfgate_p50_ms=$h_p50 hfgate_p99_ms=$h_p99" \
    "fake_non2xx=$f_bad nginx_non2xx=$n_bad hfgate_non2xx=$h_bad" \
    "nginx_sockerr=$n_serr hfgate_sockerr=$h_serr" \
    "nginx_cpu_s=$n_cpu hfgate_cpu_s=$h_cpu nginx_cpu_us_per_req=$n_us" \
    "hfgate_cpu_us_per_req=$h_us cpu_ratio=$cpu_ratio hfgate_vmhwm_kb=$hwm_kb"
