# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash disable=SC2034,SC2154
# Helpers shared by the benchmark scripts (passthrough.sh, streams.sh, cache.sh).
# Sourced, never run: `. "$top/bench/lib.sh"` after `set -eu`, with the working
# directory then at the top of the tree (the paths below are relative to it).
#
# Set up
#   die MSG...                 "<script>: MSG" on stderr, exit 1
#   require_positive VAR...    dies unless each named variable is a positive integer
#   bench_setup PKGS TOOL...   unless NO_BUILD=1: install PKGS, build; then check the
#                              TOOLs, src/hfgate and tests/fake_upstream
#   bench_tmp PREFIX           scratch directory $tmp; EXIT/INT/TERM traps that stop
#                              every process below and remove $tmp (kept if KEEP_TMP=1)
# Processes (each sets <peer>_pid, <peer>_port, <peer>_url; peer: fake, nginx, hfgate)
#   start_fake THREADS PROBE   tests/fake_upstream on a port of its choice
#   start_nginx CONF PROBE [SED_ARG...]
#                              (re)starts nginx from the template bench/CONF
#   write_hfgate_conf CACHE [SERVER_LINES [CACHE_LINES]]
#                              $tmp/hfgate.conf (and its token file) for start_hfgate
#   start_hfgate ERRFILE PROBE (re)starts src/hfgate, its stderr to ERRFILE
#   stop PID                   SIGTERM, bounded wait, SIGKILL ("" is a no-op)
#   client_pid                 the load client running (wrk, sse_load): set it around
#                              `wait` so that the traps stop it too
# Readiness (PROBE: a function that takes a base URL and prints an HTTP status)
#   free_port                  a free loopback port
#   http_status URL [CURL_ARG...]  status of one request (000: no answer in 2 s)
#   wait_ready NAME PID PROBE URL  polls PROBE until 200 (about 10 s) while PID lives
#   fake_reset; check_token PEER   clear the fake's request log; die unless a request
#                              since then carried "Bearer $TOKEN"
# Measures from /proc
#   peer_url PEER; peer_port PEER; peer_pids PEER (the pids doing PEER's work)
#   cpu_ticks PID...           utime+stime summed; $hz ticks a second
#   ticks_to_s TICKS           seconds, 2 decimals
#   status_kb FIELD PID...     a /proc/PID/status field (VmRSS, VmHWM) summed, in kB
# wrk (needs THREADS, CONNECTIONS, LUA, PATH_URI, BODY)
#   post_status URL            POSTs $BODY to URL$PATH_URI once; prints the status
#   wrk_load PEER DURATION OUT one wrk run; sets wrk_ticks (PEER's CPU meanwhile)
#   wrk_record PEER OUT RESULTS  parses OUT, appends a line to RESULTS; sets wrk_rps,
#                              wrk_p50, wrk_p99, wrk_non2xx
#   wrk_summary RESULTS        "rps p50 p99 non2xx sockerr cpu_s cpu_us_per_req"
#
# The scripts set top, TOKEN (and NGINX_WORKERS for start_nginx) before calling
# these; they read variables set here. Checked alone, this file would thus draw
# the "unused" and "not assigned" warnings of shellcheck, disabled on the first line.

bench_name=$(basename "$0" .sh)
hz=$(getconf CLK_TCK)
tmp="" client_pid="" fake_pid="" nginx_pid="" hfgate_pid=""
fake_port="" nginx_port="" hfgate_port="" fake_url="" nginx_url="" hfgate_url=""

die() { echo "$bench_name: $*" >&2; exit 1; }

require_positive() {
	local v
	for v in "$@"; do
		case ${!v} in ''|*[!0-9]*|0) die "$v must be a positive integer" ;; esac
	done
}

bench_setup() {
	local pkgs=$1 t
	shift
	if [ "${NO_BUILD:-0}" != 1 ]; then
		# shellcheck disable=SC2086
		sh scripts/install-deps.sh $pkgs
		sh scripts/build.sh
	fi
	PATH=$PATH:/usr/sbin:/sbin	# nginx lives in /usr/sbin
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 ||
		    die "$t not found (run: sh scripts/install-deps.sh $pkgs)"
	done
	[ -x src/hfgate ] || die "src/hfgate not built"
	[ -x tests/fake_upstream ] || die "tests/fake_upstream not built"
}

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

bench_cleanup() {
	set +e
	stop "$client_pid"
	stop "$hfgate_pid"
	stop "$nginx_pid"
	stop "$fake_pid"
	[ -n "$tmp" ] || return 0
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "$bench_name: scratch files kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}

bench_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/hfgate-$1.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# The kernel picks the port: a tiny race with other programs, covered by the
# retries of start_nginx.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http_status() {
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true
}

wait_ready() {
	local name=$1 pid=$2 probe=$3 url=$4 code=""
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$("$probe" "$url")
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	echo "$bench_name: $name not ready (last status $code)" >&2
	return 1
}

# port_from PID FILE SED_SCRIPT: polls FILE (about 10 s, while PID lives) until
# SED_SCRIPT finds the port a process logged there; prints it ("" if none).
port_from() {
	local pid=$1 file=$2 script=$3 port=""
	for _ in $(seq 100); do
		port=$(sed -n "$script" "$file" 2>/dev/null | head -n 1)
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$port"
}

start_fake() {
	local nthreads=$1 probe=$2
	tests/fake_upstream --threads "$nthreads" --port 0 >"$tmp/fake.out" 2>"$tmp/fake.err" &
	fake_pid=$!
	fake_port=$(port_from "$fake_pid" "$tmp/fake.out" 's/^PORT \([0-9][0-9]*\)$/\1/p')
	[ -n "$fake_port" ] || { cat "$tmp/fake.err" >&2; die "fake upstream did not start"; }
	fake_url=http://127.0.0.1:$fake_port
	wait_ready fake "$fake_pid" "$probe" "$fake_url${FAKE_PATH_PREFIX:-}" || die "fake upstream not answering"
}

# Placeholders of the template: @WORKERS@ ($NGINX_WORKERS), @UPSTREAM_PORT@ (the
# fake's), @LISTEN_PORT@ (a free port; up to 5 tries), @TOKEN@; the SED_ARGs
# (-e s/.../.../) fill in the script's own.
start_nginx() {
	local conf=$1 probe=$2 ngx=$tmp/nginx port
	shift 2
	stop "$nginx_pid"
	nginx_pid="" nginx_port="" nginx_url=""
	mkdir -p "$ngx"
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		sed -e "s/@WORKERS@/$NGINX_WORKERS/" -e "s/@UPSTREAM_PORT@/$fake_port/" \
		    -e "s/@LISTEN_PORT@/$port/" -e "s/@TOKEN@/$TOKEN/" "$@" \
		    "bench/$conf" >"$ngx/nginx.conf"
		nginx -p "$ngx/" -e "$ngx/error.log" -c "$ngx/nginx.conf" 2>>"$ngx/stderr" &
		nginx_pid=$!
		if wait_ready nginx "$nginx_pid" "$probe" "http://127.0.0.1:$port"; then
			nginx_port=$port
			nginx_url=http://127.0.0.1:$port
			return 0
		fi
		stop "$nginx_pid"
		nginx_pid=""
	done
	cat "$ngx/stderr" "$ngx/error.log" >&2 2>/dev/null || true
	die "nginx did not start"
}

# CACHE is yes or no; SERVER_LINES and CACHE_LINES are extra lines of the [server]
# and [cache] sections. hfgate listens on a port of its choice and forwards to the fake.
write_hfgate_conf() {
	local cache=$1 server_lines=${2:-} cache_lines=${3:-}
	printf '%s\n' "$TOKEN" >"$tmp/hf_token"
	cat >"$tmp/hfgate.conf" <<EOF
[server]
listen = 127.0.0.1:0
grace_seconds = 1
# Every benchmark connection comes from 127.0.0.1.
max_connections_per_ip = 0
default_models_file = $top/etc/default-models.tsv
$server_lines

[upstream]
url = $fake_url${HFGATE_UPSTREAM_PATH:-}
hub_url = $fake_url
token_file = $tmp/hf_token

[cache]
enabled = $cache
db = $tmp/cache.db
$cache_lines

# Usage accounting stays on, as by default, in this run's own file.
[usage]
db = $tmp/usage.db
EOF
}

# One log line per request: it goes to ERRFILE, as cheap as logging gets.
start_hfgate() {
	local err=$1 probe=$2
	stop "$hfgate_pid"
	hfgate_pid="" hfgate_port="" hfgate_url=""
	src/hfgate -c "$tmp/hfgate.conf" 2>"$err" &
	hfgate_pid=$!
	hfgate_port=$(port_from "$hfgate_pid" "$err" \
	    's/.*hfgate: listening on .*:\([0-9][0-9]*\).*/\1/p')
	[ -n "$hfgate_port" ] || { cat "$err" >&2; die "hfgate did not start"; }
	hfgate_url=http://127.0.0.1:$hfgate_port
	wait_ready hfgate "$hfgate_pid" "$probe" "$hfgate_url" ||
	    { tail -n 20 "$err" >&2; die "hfgate not answering"; }
}

fake_reset() { curl -s -o /dev/null -X POST "$fake_url/__fake/reset"; }

check_token() {
	curl -s "$fake_url/__fake/requests" | grep -q "Bearer $TOKEN" ||
	    die "$1: token not injected upstream"
}

peer_url() {
	case $1 in
	fake) echo "$fake_url${FAKE_PATH_PREFIX:-}" ;;
	nginx) echo "$nginx_url" ;;
	hfgate) echo "$hfgate_url" ;;
	esac
}

peer_port() {
	case $1 in
	fake) echo "$fake_port" ;;
	nginx) echo "$nginx_port" ;;
	hfgate) echo "$hfgate_port" ;;
	esac
}

# nginx: its workers (not the master, which only supervises, nor a cache manager
# or loader, which come and go).
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
	fake) echo "$fake_pid" ;;
	esac
}

# All threads of each process count.
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

ticks_to_s() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'; }

status_kb() {
	local f=$1 p sum=0 v
	shift
	for p in "$@"; do
		v=$(awk -v f="$f:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

post_status() {
	http_status "$1$PATH_URI" -H 'Content-Type: application/json' --data-raw "$BODY"
}

# wrk latency value (e.g. 812.00us, 1.23ms, 2.01s) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
		else if (u == "m") n *= 60000;
		printf "%.3f", n }'
}

# The load: bench/post.lua ($LUA) on THREADS threads and CONNECTIONS connections
# against PEER's URL$PATH_URI, wrk's output to OUT. Dies if wrk fails.
wrk_load() {
	local peer=$1 dur=$2 out=$3 url pids c0 c1
	url=$(peer_url "$peer")
	pids=$(peer_pids "$peer")
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	# In the background so that a signal to this script is handled at once.
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --latency -s "$LUA" "$url$PATH_URI" >"$out" 2>&1 &
	client_pid=$!
	wait "$client_pid" || { cat "$out" >&2; die "wrk failed against $peer"; }
	client_pid=""
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	wrk_ticks=$((c1 - c0))
}

# The line appended: "rps p50_ms p99_ms non2xx sockerr cpu_ticks requests", the CPU
# ticks being wrk_load's $wrk_ticks.
wrk_record() {
	local peer=$1 out=$2 results=$3 sockerr nreq
	wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	[ -n "$wrk_rps" ] || { cat "$out" >&2; die "no result from wrk against $peer"; }
	wrk_p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	wrk_p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	wrk_non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	wrk_non2xx=${wrk_non2xx:-0}
	sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
	nreq=$(awk '/ requests in / { print $1 }' "$out")
	echo "$wrk_rps $wrk_p50 $wrk_p99 $wrk_non2xx ${sockerr:-0} $wrk_ticks ${nreq:-0}" >>"$results"
}

# Medians over the lines (rounds) of rps/p50/p99; totals of non-2xx, socket errors
# and CPU; CPU per request in microseconds.
wrk_summary() {
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
	' "$1"
}
