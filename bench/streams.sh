#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Streaming benchmark: hfgate side by side with nginx (proxy_buffering off) relaying
# Server-Sent Event streams of the offline fake upstream on loopback, in one run, with
# bench/sse_load as the client. Two scenarios, each run against both relays, the
# order alternating each round:
#  (a) many slow streams: STREAMS_BIG streams of fake/stream-20-500 (20 tokens + EOS,
#      500 ms apart) open at once, through a freshly started relay: streams completed,
#      errors, the relay's peak RSS (VmHWM; nginx: sum over its workers), RSS per open stream
#      = (VmRSS sampled mid-plateau, all streams open - VmRSS idle before) / N, and the
#      relay's CPU seconds over the run;
#  (b) fast streams: STREAMS_FAST streams of fake/stream-100-50 (events 50 ms apart):
#      time to first event and latency per event through each relay and directly
#      against the fake (the baseline: what a relay adds is relay minus direct), over
#      all events and over those received while all streams were open (the steady
#      state, without the opening and closing of the streams).
# Latency of an event = its receive time - the send time the fake stamps in the
# comment line ":t=<unix ms>" before it. The stamp has whole milliseconds, so
# every figure (the direct one too) includes ~0.5 ms of truncation.
#
# Usage: bench/streams.sh        (as root the first time: installs nginx-light)
# Environment:
#   STREAMS_BIG=5000 STREAMS_FAST=1000   streams of scenarios (a) and (b)
#   RAMP=2000          streams opened per second (listen backlogs are not overrun)
#   ROUNDS=1           rounds; peers alternate order each round, medians reported
#   SCENARIOS=ab       which scenarios to run (a, b or ab)
#   PROTO=tgi          tgi: TGI streams (POST /models/{id}); chat: OpenAI chat streams
#                      (POST /v1/chat/completions, fake/oai-stamp-<ms> models of the
#                      fake's router, ending on data: [DONE]; (a) 20 content chunks
#                      500 ms apart, (b) 100 chunks 50 ms apart), hfgate in front of
#                      the fake's /router, nginx's /v1/ mapped to it, the fake measured
#                      at /router/v1/chat/completions
#   NGINX_WORKERS=2    nginx worker_processes
#   FAKE_THREADS=2     fake upstream threads
#   TIMEOUT=120        seconds a stream may take before the client counts a timeout
#   NO_BUILD=1         skip install-deps and the hfgate build (sse_load is always
#                      rebuilt when its source is newer)
#   KEEP_TMP=1         keep the scratch directory (configs, logs, raw client outputs)
# The last line of output is machine-readable: RESULT key=value ...
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$top/bench/lib.sh"
STREAMS_BIG=${STREAMS_BIG:-5000}
STREAMS_FAST=${STREAMS_FAST:-1000}
RAMP=${RAMP:-2000}
ROUNDS=${ROUNDS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-2}
FAKE_THREADS=${FAKE_THREADS:-2}
TIMEOUT=${TIMEOUT:-120}
SCENARIOS=${SCENARIOS:-ab}
PROTO=${PROTO:-tgi}
case $PROTO in
tgi)
	BIG_MODEL=fake/stream-20-500
	FAST_MODEL=fake/stream-100-50
	BIG_WHAT="20 tokens + EOS, 500 ms apart"
	FAST_WHAT="100 events, 50 ms apart"
	BIG_SECONDS=10.5
	;;
chat)
	BIG_MODEL=fake/oai-stamp-500
	FAST_MODEL=fake/oai-stamp-50
	BIG_WHAT="OpenAI chat: role, 20 content chunks, finish, [DONE], 500 ms apart"
	FAST_WHAT="OpenAI chat: 103 events, 50 ms apart"
	BIG_SECONDS=11.5
	;;
*) echo "streams: PROTO must be tgi or chat" >&2; exit 2 ;;
esac
TOKEN=hf_bench_dummy_token
CFLAGS_LOAD="-O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes
-Wmissing-prototypes"

require_positive STREAMS_BIG STREAMS_FAST RAMP ROUNDS NGINX_WORKERS FAKE_THREADS TIMEOUT

cd "$top"
bench_setup nginx-light nginx curl python3 pgrep
if [ ! -x bench/sse_load ] || [ bench/sse_load.c -nt bench/sse_load ]; then
	# shellcheck disable=SC2086
	cc $CFLAGS_LOAD bench/sse_load.c -o bench/sse_load || die "cannot build bench/sse_load"
fi

# Open files: as many as allowed. A relay holds 2 per stream (client + upstream) and
# may get all of them in one process (one nginx worker); the fake and the client 1.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then
	ulimit -n 1048576 2>/dev/null || true
else
	ulimit -n "$hard"
fi
nofile=$(ulimit -n)
fits() { [ "$nofile" = unlimited ] || [ $((2 * $1 + 256)) -le "$nofile" ]; }
big_skip="" fast_skip=""
case $SCENARIOS in *a*) ;; *) big_skip="not selected (SCENARIOS=$SCENARIOS)" ;; esac
case $SCENARIOS in *b*) ;; *) fast_skip="not selected (SCENARIOS=$SCENARIOS)" ;; esac
[ -n "$big_skip" ] || fits "$STREAMS_BIG" || big_skip="$STREAMS_BIG streams need about $((2 * STREAMS_BIG + 256)) open files in one relay process, the limit is $nofile"
[ -n "$fast_skip" ] || fits "$STREAMS_FAST" || fast_skip="$STREAMS_FAST streams need about $((2 * STREAMS_FAST + 256)) open files in one relay process, the limit is $nofile"
[ -n "$big_skip" ] && echo "streams: scenario (a) not run: $big_skip" >&2
[ -n "$fast_skip" ] && echo "streams: scenario (b) not run: $fast_skip" >&2
[ -n "$big_skip" ] && [ -n "$fast_skip" ] && die "no scenario to run"
nmax=$STREAMS_FAST
[ -z "$big_skip" ] && [ "$STREAMS_BIG" -gt "$nmax" ] && nmax=$STREAMS_BIG
relay_conns=$((2 * nmax + 256))

bench_tmp streams

# One short stream; prints the HTTP status (000 if no answer).
probe_stream() {
	http_status "$1/models/fake/stream-1-1" -H 'Content-Type: application/json' \
	    --data-raw '{"inputs":"hi","stream":true}'
}

start_fake "$FAKE_THREADS" probe_stream
# The fake's echo answers "echo: <message>" cut to max_tokens words: a message of
# words-1 words makes a stream of words content chunks.
chat_body() {
	local model=$1 words=$2
	printf '{"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":%s,"stream":true}' \
	    "$model" "$(seq 2 "$words" | sed 's/^/w/' | tr '\n' ' ' | sed 's/ $//')" "$words"
}
# The path and body of a stream of model through peer.
load_path() {
	if [ "$PROTO" = tgi ]; then echo "/models/$2"
	elif [ "$1" = fake ]; then echo /router/v1/chat/completions
	else echo /v1/chat/completions; fi
}
load_body() {
	if [ "$PROTO" = tgi ]; then
		echo '{"inputs":"hello","parameters":{"max_new_tokens":20},"stream":true}'
	elif [ "$1" = "$BIG_MODEL" ]; then chat_body "$1" 20
	else chat_body "$1" 100; fi
}
[ "$PROTO" = chat ] && HFGATE_UPSTREAM_PATH=/router/hf-inference

# --- relays --------------------------------------------------------------------
# Each relay is started afresh before each run of scenario (a): its idle RSS is then
# that of a fresh process (allocators keep freed memory, so the RSS after a run is no
# baseline) and its VmHWM is that run's.
maxconn=10000
[ "$relay_conns" -gt "$maxconn" ] && maxconn=$relay_conns
write_hfgate_conf no "max_connections = $maxconn"

# A relay must relay a stream to its end, with the token injected upstream.
check_relay() {
	local peer=$1
	fake_reset
	local smoke=fake/stream-3-20
	[ "$PROTO" = chat ] && smoke=fake/oai-stamp-20
	bench/sse_load --port "$(peer_port "$peer")" --path "$(load_path "$peer" "$smoke")" \
	    --body "$(load_body "$smoke")" --streams 2 --timeout 10 >"$tmp/smoke-$peer.txt" 2>&1 || { cat "$tmp/smoke-$peer.txt" >&2;
	    die "$peer does not relay a stream to its end"; }
	check_token "$peer"
	fake_reset
}

# (Re)starts a relay, nginx or hfgate, and checks it.
hfgate_starts=0
start_relay() {
	case $1 in
	nginx)
		start_nginx nginx-streams.conf probe_stream \
		    -e "s/@CONNECTIONS@/$relay_conns/" -e "s/@NOFILE@/$nofile/"
		;;
	hfgate)
		hfgate_starts=$((hfgate_starts + 1))
		start_hfgate "$tmp/hfgate-$hfgate_starts.err" probe_stream
		;;
	esac
	check_relay "$1"
}

start_relay nginx
start_relay hfgate

# --- measurements --------------------------------------------------------------
# "busy total" jiffies of the whole machine (all CPUs), from /proc/stat.
box_ticks() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i
		print t - $5 - $6, t; exit }' /proc/stat
}

# Runs sse_load against a peer; appends its SSE line plus the relay's figures to
# $tmp/res-<scenario>-<peer>. Scenario big also samples VmRSS mid-plateau.
run_load() {
	local peer=$1 scen=$2 model=$3 n=$4 round=$5 port pids c0 c1 idle open="" hwm
	local out pl="" plopen=0 plt w line rc=0 per="" b0 b1 busy lpath lbody
	port=$(peer_port "$peer")
	pids=$(peer_pids "$peer")
	# Resets VmHWM to the current RSS (Linux >= 4.0), so the peak is this run's.
	for p in $pids; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done
	# shellcheck disable=SC2086
	idle=$(status_kb VmRSS $pids)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	b0=$(box_ticks)
	out=$tmp/load-$scen-$peer-$round.txt
	lpath=$(load_path "$peer" "$model")
	lbody=$(load_body "$model")
	: >"$out"
	bench/sse_load --host 127.0.0.1 --port "$port" --path "$lpath" --body "$lbody" \
	    --streams "$n" --ramp "$RAMP" --timeout "$TIMEOUT" >"$out" 2>&1 &
	client_pid=$!
	if [ "$scen" = big ]; then
		# All streams are open from the plateau until the first one ends, one
		# stream length after the start: sample in the middle of that.
		while kill -0 "$client_pid" 2>/dev/null; do
			pl=$(sed -n 's/^PLATEAU open=\([0-9]*\) started=[0-9]* t=\([0-9.]*\)$/\1 \2/p' "$out")
			[ -n "$pl" ] && break
			sleep 0.05
		done
		if [ -n "$pl" ]; then
			read -r _ plt <<<"$pl"
			w=$(awk -v l="$BIG_SECONDS" -v t="$plt" 'BEGIN { w = (l - t) / 2; printf "%.2f", w < 0 ? 0 : w }')
			sleep "$w"
			# shellcheck disable=SC2086
			open=$(status_kb VmRSS $pids)
			kill -USR1 "$client_pid" 2>/dev/null || true
		fi
	fi
	wait "$client_pid" || rc=$?
	client_pid=""
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	# shellcheck disable=SC2086
	hwm=$(status_kb VmHWM $pids)
	b1=$(box_ticks)
	busy=$(awk -v a="$b0" -v b="$b1" 'BEGIN { split(a, x, " "); split(b, y, " ")
		printf "%.0f", (y[2] > x[2] ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0) }')
	plopen=$(sed -n 's/^OPEN open=\([0-9]*\) .*/\1/p' "$out" | head -n 1)
	[ "$rc" -le 1 ] || { cat "$out" >&2; die "sse_load failed against $peer"; }
	line=$(grep '^SSE ' "$out") || { cat "$out" >&2; die "no result from sse_load against $peer"; }
	[ -n "$open" ] && per=$(awk -v o="$open" -v i="$idle" -v n="$n" 'BEGIN { printf "%.2f", (o - i) / n }')
	echo "$line rss_idle_kb=$idle rss_open_kb=${open:-0} open_sampled=${plopen:-0}" \
	    "kb_per_stream=${per:-0} hwm_kb=$hwm cpu_ticks=$((c1 - c0)) box_busy_pct=$busy" >>"$tmp/res-$scen-$peer"
	printf '  round %s %-5s %-7s completed %s/%s errors %s  lat p50 %s p99 %s ms  CPUs %s%% busy%s\n' \
	    "$round" "$scen" "$peer" "$(kv completed "$line")" "$n" "$(kv errors "$line")" \
	    "$(kv lat_p50_ms "$line")" "$(kv lat_p99_ms "$line")" "$busy" \
	    "${per:+  RSS/stream $per kB ($plopen open)}"
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || die "$peer (pid $p) died during the run"
	done
	# Let the relays close what the run left (upstream keepalive excess, TIME_WAIT).
	sleep 1
}

# The value of key in a "key=value ..." line.
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }

# Aggregates key over the rounds in a result file: median (default) or sum.
agg() {
	local file=$1 key=$2 how=${3:-median}
	[ -f "$file" ] || { echo 0; return; }
	tr ' ' '\n' <"$file" | sed -n "s/^$key=//p" | sort -g | awk -v how="$how" '
	{ v[++n] = $1; s += $1 }
	END { if (n == 0) { print 0; exit }
	      if (how == "sum") { print s; exit }
	      print (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) }'
}

echo "streams: fake upstream :$fake_port ($FAKE_THREADS threads), nginx :$nginx_port" \
    "($NGINX_WORKERS workers, proxy_buffering off), hfgate :$hfgate_port;" \
    "ramp $RAMP streams/s, $ROUNDS round(s), open files $nofile, $(nproc) CPUs shared by all"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then relays="nginx hfgate" fast="fake nginx hfgate"
	else relays="hfgate nginx" fast="hfgate nginx fake"; fi
	if [ -z "$big_skip" ]; then
		for peer in $relays; do
			start_relay "$peer"
			run_load "$peer" big "$BIG_MODEL" "$STREAMS_BIG" "$r"
		done
	fi
	if [ -z "$fast_skip" ]; then
		for peer in $fast; do
			run_load "$peer" fast "$FAST_MODEL" "$STREAMS_FAST" "$r"
		done
	fi
done

# --- report --------------------------------------------------------------------
result="RESULT proto=$PROTO rounds=$ROUNDS ramp=$RAMP"
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
if [ -n "$big_skip" ]; then
	echo "(a) not run: $big_skip"
	result="$result big_skipped=1"
else
	echo "(a) $STREAMS_BIG concurrent streams of $BIG_MODEL ($BIG_WHAT);" \
	    "medians over $ROUNDS round(s), completed/errors: totals"
	printf '%-7s %11s %7s %9s %9s %9s %10s %7s %9s %9s %6s\n' relay completed errors \
	    'peak MB' 'idle MB' 'open MB' 'kB/stream' 'CPU s' 'lat p50' 'lat p99' 'busy%'
	result="$result big_n=$STREAMS_BIG"
	for peer in nginx hfgate; do
		f=$tmp/res-big-$peer
		comp=$(agg "$f" completed sum) errs=$(agg "$f" errors sum)
		hwm=$(agg "$f" hwm_kb) idle=$(agg "$f" rss_idle_kb) open=$(agg "$f" rss_open_kb)
		per=$(agg "$f" kb_per_stream) pl=$(agg "$f" open_sampled)
		cpu=$(ticks_to_s "$(agg "$f" cpu_ticks)")
		p50=$(agg "$f" lat_p50_ms) p99=$(agg "$f" lat_p99_ms) busy=$(agg "$f" box_busy_pct)
		printf '%-7s %11s %7s %9s %9s %9s %10s %7s %9s %9s %6s\n' "$peer" \
		    "$comp/$((STREAMS_BIG * ROUNDS))" "$errs" "$(mb "$hwm")" "$(mb "$idle")" \
		    "$(mb "$open")" "$per" "$cpu" "$p50" "$p99" "$busy"
		[ "$pl" = "$STREAMS_BIG" ] ||
		    echo "  ($peer: $pl streams, not $STREAMS_BIG, were open when RSS was sampled)"
		result="$result ${peer}_big_completed=$comp ${peer}_big_errors=$errs"
		result="$result ${peer}_big_vmhwm_kb=$hwm ${peer}_big_rss_idle_kb=$idle"
		result="$result ${peer}_big_rss_open_kb=$open ${peer}_big_kb_per_stream=$per"
		result="$result ${peer}_big_cpu_s=$cpu ${peer}_big_lat_p50_ms=$p50 ${peer}_big_lat_p99_ms=$p99"
		result="$result ${peer}_big_ttfe_p99_ms=$(agg "$f" ttfe_p99_ms) ${peer}_big_busy_pct=$busy"
	done
	echo "(nginx: sums over its $NGINX_WORKERS workers; kB/stream = (open - idle) / $STREAMS_BIG," \
	    "open sampled mid-plateau with all streams open; peak = VmHWM of the run;" \
	    "lat: ms added per event, fake to client; busy%: all $(nproc) CPUs)"
fi
echo
if [ -n "$fast_skip" ]; then
	echo "(b) not run: $fast_skip"
	result="$result fast_skipped=1"
else
	echo "(b) $STREAMS_FAST concurrent streams of $FAST_MODEL ($FAST_WHAT);" \
	    "ms; medians over $ROUNDS round(s); added = relay - direct"
	printf '%-11s %11s %6s %9s %9s %8s %8s %8s %10s %10s %10s %7s %6s\n' peer completed \
	    errors 'TTFE p50' 'TTFE p99' 'lat p50' 'lat p99' 'lat max' 'added p50' 'added p99' \
	    'open p99' 'CPU s' 'busy%'
	d50=$(agg "$tmp/res-fast-fake" lat_p50_ms) d99=$(agg "$tmp/res-fast-fake" lat_p99_ms)
	do99=$(agg "$tmp/res-fast-fake" open_lat_p99_ms)
	dt50=$(agg "$tmp/res-fast-fake" ttfe_p50_ms) dt99=$(agg "$tmp/res-fast-fake" ttfe_p99_ms)
	result="$result fast_n=$STREAMS_FAST"
	for peer in fake nginx hfgate; do
		f=$tmp/res-fast-$peer
		comp=$(agg "$f" completed sum) errs=$(agg "$f" errors sum)
		t50=$(agg "$f" ttfe_p50_ms) t99=$(agg "$f" ttfe_p99_ms)
		p50=$(agg "$f" lat_p50_ms) p99=$(agg "$f" lat_p99_ms) pmax=$(agg "$f" lat_max_ms)
		cpu=$(ticks_to_s "$(agg "$f" cpu_ticks)")
		a50=$(awk -v a="$p50" -v b="$d50" 'BEGIN { printf "%.3f", a - b }')
		a99=$(awk -v a="$p99" -v b="$d99" 'BEGIN { printf "%.3f", a - b }')
		o99=$(agg "$f" open_lat_p99_ms)
		ao99=$(awk -v a="$o99" -v b="$do99" 'BEGIN { printf "%.3f", a - b }')
		name=$peer busy=$(agg "$f" box_busy_pct)
		[ "$peer" = fake ] && name=fake-direct
		printf '%-11s %11s %6s %9s %9s %8s %8s %8s %10s %10s %10s %7s %6s\n' "$name" \
		    "$comp/$((STREAMS_FAST * ROUNDS))" "$errs" "$t50" "$t99" "$p50" "$p99" "$pmax" \
		    "$a50" "$a99" "$ao99" "$cpu" "$busy"
		[ "$peer" = fake ] && peer=direct
		result="$result ${peer}_fast_completed=$comp ${peer}_fast_errors=$errs"
		result="$result ${peer}_fast_ttfe_p50_ms=$t50 ${peer}_fast_ttfe_p99_ms=$t99"
		result="$result ${peer}_fast_lat_p50_ms=$p50 ${peer}_fast_lat_p99_ms=$p99"
		result="$result ${peer}_fast_lat_max_ms=$pmax ${peer}_fast_cpu_s=$cpu ${peer}_fast_busy_pct=$busy"
		if [ "$peer" != direct ]; then
			result="$result ${peer}_fast_added_p50_ms=$a50 ${peer}_fast_added_p99_ms=$a99"
			result="$result ${peer}_fast_added_open_p99_ms=$ao99"
			result="$result ${peer}_fast_added_ttfe_p50_ms=$(awk -v a="$t50" -v b="$dt50" 'BEGIN { printf "%.3f", a - b }')"
			result="$result ${peer}_fast_added_ttfe_p99_ms=$(awk -v a="$t99" -v b="$dt99" 'BEGIN { printf "%.3f", a - b }')"
		fi
	done
	echo "(open p99: added p99 of the events received while all streams were open, after" \
	    "the last one opened and before the first one ended;" \
	    "TTFE: from connect() to the first complete event, includes the fake's 50 ms;" \
	    "CPU s: fake-direct's is the fake's, else the relay's; busy%: all $(nproc) CPUs," \
	    "shared by the fake, the relays and the client)"
fi
echo "$result"
