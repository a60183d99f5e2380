#!/bin/bash
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
# The last line of output is machine-readable: RESULT key=value ...
# Absolute numbers drift on a shared machine; the hfgate/nginx ratio of one run counts.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
NGINX_WORKERS=${NGINX_WORKERS:-$(nproc)}
MODEL=distilbert-base-uncased-finetuned-sst-2-english
PATH_URI=/models/$MODEL
TOKEN=hf_bench_dummy_token
LUA=$top/bench/post.lua
BODY='{"inputs": "I like you. I love you"}'

die() { echo "passthrough: $*" >&2; exit 1; }

case $ROUNDS in ''|*[!0-9]*|0) die "ROUNDS must be a positive integer" ;; esac

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
		echo "passthrough: scratch files kept in $tmp" >&2
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

# Polls until probe() answers 200 (bounded: about 10 s) while the process lives.
wait_ready() {
	local name=$1 pid=$2 url=$3 code=""
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$(probe "$url")
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	echo "passthrough: $name not ready (last status $code)" >&2
	return 1
}

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
ngx=$tmp/nginx
mkdir -p "$ngx"
nginx_url=""
for _ in 1 2 3 4 5; do
	nginx_port=$(free_port)
	sed -e "s/@WORKERS@/$NGINX_WORKERS/" -e "s/@UPSTREAM_PORT@/$fake_port/" \
	    -e "s/@LISTEN_PORT@/$nginx_port/" -e "s/@TOKEN@/$TOKEN/" \
	    bench/nginx-passthrough.conf >"$ngx/nginx.conf"
	nginx -p "$ngx/" -e "$ngx/error.log" -c "$ngx/nginx.conf" 2>>"$ngx/stderr" &
	nginx_pid=$!
	if wait_ready nginx "$nginx_pid" "http://127.0.0.1:$nginx_port"; then
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
enabled = no
db = $tmp/cache.db
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
wait_ready hfgate "$hfgate_pid" "$hfgate_url" || { tail -n 20 "$tmp/hfgate.err" >&2; die "hfgate not answering"; }

# Both peers must forward the same request with the token injected.
for peer in nginx hfgate; do
	eval "url=\$${peer}_url"
	curl -s -o /dev/null -X POST "$fake_url/__fake/reset"
	[ "$(probe "$url")" = 200 ] || die "$peer: probe failed"
	curl -s "$fake_url/__fake/requests" | grep -q "Bearer $TOKEN" ||
	    die "$peer: token not injected upstream"
done
curl -s -o /dev/null -X POST "$fake_url/__fake/reset"

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

# pids whose CPU counts for a peer: nginx's workers (the master only supervises).
peer_pids() {
	case $1 in
	nginx) pgrep -P "$nginx_pid" | tr '\n' ' ' ;;
	hfgate) echo "$hfgate_pid" ;;
	fake) echo "$fake_pid" ;;
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

# Runs wrk against a peer; appends "rps p50_ms p99_ms non2xx sockerr cpu_ticks requests" to
# $tmp/res-<peer> unless it is a warm-up.
run_wrk() {
	local peer=$1 dur=$2 tag=$3 url pids c0 c1 out rps p50 p99 non2xx sockerr nreq
	eval "url=\$${peer}_url"
	pids=$(peer_pids "$peer")
	out=$tmp/wrk-$peer-$tag.txt
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	# In the background so that a signal to this script is handled at once.
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --latency -s "$LUA" "$url$PATH_URI" >"$out" 2>&1 &
	wrk_pid=$!
	wait "$wrk_pid" || { cat "$out" >&2; die "wrk failed against $peer"; }
	wrk_pid=""
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	[ "$tag" = warmup ] && return 0
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	[ -n "$rps" ] || { cat "$out" >&2; die "no result from wrk against $peer"; }
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
	nreq=$(awk '/ requests in / { print $1 }' "$out")
	echo "$rps $p50 $p99 ${non2xx:-0} ${sockerr:-0} $((c1 - c0)) ${nreq:-0}" >>"$tmp/res-$peer"
	printf '  round %s %-7s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  non-2xx %s\n' \
	    "$tag" "$peer" "$rps" "$p50" "$p99" "${non2xx:-0}"
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
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$hfgate_pid/status")
kill -0 "$hfgate_pid" 2>/dev/null || die "hfgate died during the benchmark"

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
read -r f_rps f_p50 f_p99 f_bad f_serr f_cpu f_us <<<"$(summary fake)"
read -r n_rps n_p50 n_p99 n_bad n_serr n_cpu n_us <<<"$(summary nginx)"
read -r h_rps h_p50 h_p99 h_bad h_serr h_cpu h_us <<<"$(summary hfgate)"
ratio=$(awk -v a="$h_rps" -v b="$n_rps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
cpu_ratio=$(awk -v a="$h_us" -v b="$n_us" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')

echo
echo "Pass-through, POST $PATH_URI, medians of $ROUNDS x $DURATION (CPU: totals over the rounds)"
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
echo "RESULT duration=$DURATION rounds=$ROUNDS connections=$CONNECTIONS" \
    "fake_rps=$f_rps nginx_rps=$n_rps hfgate_rps=$h_rps ratio=$ratio" \
    "fake_p50_ms=$f_p50 fake_p99_ms=$f_p99" \
    "nginx_p50_ms=$n_p50 nginx_p99_ms=$n_p99 hfgate_p50_ms=$h_p50 hfgate_p99_ms=$h_p99" \
    "fake_non2xx=$f_bad nginx_non2xx=$n_bad hfgate_non2xx=$h_bad" \
    "nginx_sockerr=$n_serr hfgate_sockerr=$h_serr" \
    "nginx_cpu_s=$n_cpu hfgate_cpu_s=$h_cpu nginx_cpu_us_per_req=$n_us" \
    "hfgate_cpu_us_per_req=$h_us cpu_ratio=$cpu_ratio hfgate_vmhwm_kb=$hwm_kb"
