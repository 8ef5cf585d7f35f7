#!/usr/bin/env bash
# Latency under paced load, two switch builds against each other and against the raw
# TCP forwarder (`msrp-flood forward`), runs alternated so that a machine whose speed
# drifts (a shared virtual machine) moves both sides alike. For changes to the I/O
# path whose effect on the tail is smaller than the run-to-run noise of one
# `benches/compare.sh` run.
#
#   benches/latency-ab.sh OLD_BIN [NEW_BIN]     # e.g. a copy of target/release/msrp-switch
#
# Each round runs, for every binary given and then for the raw forwarder, one flooder
# run of 1 KiB 1:1 messages at RATE and prints p50 / p90 / p99 send-to-delivery (µs),
# the server's CPU seconds during the run (from /proc/PID/stat) and its CPU per
# message. With `perf` installed, the switch's system calls during the run are
# counted too (recvfrom, writev, epoll_wait per message).
#
# Environment (all optional):
#   RATE=100000     messages per second (compare.sh uses half the switch's peak)
#   ROUNDS=3        rounds (each runs every binary once, then the raw forwarder)
#   DURATION=4      measured seconds per run (after 1 s of warm-up)
#   PACING=burst    burst: one burst per millisecond of tokio's timer, as compare.sh;
#                   spin: arrivals spread evenly (`--spin-pacing`)
#   FLOOD_BIN       default target/release/msrp-flood
#
# Everything listens on 127.0.0.1, on ports picked free at start; every process the
# script starts is stopped by its PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RATE=${RATE:-100000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
PACING=${PACING:-burst}
FLOOD_BIN=${FLOOD_BIN:-$ROOT/target/release/msrp-flood}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 OLD_SWITCH_BIN [NEW_SWITCH_BIN]" >&2
	exit 2
fi
BINS=("$@")
for bin in "${BINS[@]}" "$FLOOD_BIN"; do
	[ -x "$bin" ] || {
		echo "not an executable: $bin (cargo build --release -p msrp-switch -p msrp-benches)" >&2
		exit 2
	}
done
PACE_FLAGS=()
case "$PACING" in
burst) ;;
spin) PACE_FLAGS=(--spin-pacing) ;;
*)
	echo "PACING must be burst or spin, not '$PACING'" >&2
	exit 2
	;;
esac
HAVE_PERF=0
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_writev -- true >/dev/null 2>&1; then
	HAVE_PERF=1
fi

WORK=$(mktemp -d /tmp/msrp-latency-ab.XXXXXX)
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_listen() { # PORT: until a socket listens on it (10 s at most). Read from
	# /proc/net/tcp, not by connecting: the raw forwarder pairs the connections it
	# accepts in order, and a probe would take the flooder's first one's place.
	local i hex
	hex=$(printf '%04X' "$1")
	for i in $(seq 100); do
		if awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {found = 1} END {exit !found}' /proc/net/tcp; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	exit 1
}

# One switch per binary, and the raw forwarder, all up for the whole script.
SW_PORTS=() SW_CTLS=() SW_PIDS=()
for i in "${!BINS[@]}"; do
	port=$(free_port) ctl=$(free_port) met=$(free_port)
	"${BINS[$i]}" --listen "127.0.0.1:$port" --tls false --control-listen "127.0.0.1:$ctl" \
		--metrics-listen "127.0.0.1:$met" --shards 1 >"$WORK/switch-$i.log" 2>&1 &
	PIDS+=("$!")
	SW_PIDS+=("$!") SW_PORTS+=("$port") SW_CTLS+=("$ctl")
	wait_listen "$port"
	wait_listen "$ctl"
done
RAW_PORT=$(free_port)
"$FLOOD_BIN" forward --listen "127.0.0.1:$RAW_PORT" --threads 1 >"$WORK/raw.log" 2>&1 &
RAW_PID=$!
PIDS+=("$RAW_PID")
wait_listen "$RAW_PORT"

# run NAME PID TARGET ADDR [flags]: one bounded flooder run, one line of results
run() {
	local name=$1 pid=$2 target=$3 addr=$4 before after perf_pid=''
	shift 4
	before=$(cpu_ticks "$pid")
	if [ "$HAVE_PERF" = 1 ] && [ "$target" = switch ]; then
		# the measured seconds only: perf starts after the warm-up second
		(sleep 1.2 && exec perf stat -x, -o "$WORK/perf.csv" \
			-e syscalls:sys_enter_recvfrom,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait \
			-p "$pid" -- sleep "$((DURATION - 1))") &
		perf_pid=$!
	fi
	timeout --kill-after=5 "$((DURATION + 20))" "$FLOOD_BIN" run --target "$target" \
		--addr "$addr" "$@" --sessions 1 --window 256 --size 1024 --rate "$RATE" \
		"${PACE_FLAGS[@]}" --duration-seconds "$DURATION" --warmup-seconds 1 \
		--stall-seconds 5 --threads 1 --json --quiet >"$WORK/run.json" 2>"$WORK/run.err" || {
		echo "$name: the flooder failed; its last lines:" >&2
		tail -n 5 "$WORK/run.err" >&2
		return 0
	}
	after=$(cpu_ticks "$pid")
	if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
	python3 - "$name" "$((after - before))" "$WORK/run.json" "${perf_pid:+$WORK/perf.csv}" \
		"$((DURATION - 1))" "$DURATION" <<'PY'
import json, sys
name, ticks, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
perf, perf_s, dur = sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
run = json.load(open(path))
lat = run.get("latency_us", {})
rate = run.get("msgs_per_s") or 0
# CPU over the warm-up second and the measured ones, so messages over both
msgs = rate * (dur + 1)
cpu = ticks / 100
line = (f"{name:8s} {rate:9.0f} msgs/s  p50 {lat.get('p50', '-'):>7} p90 {lat.get('p90', '-'):>7}"
        f" p99 {lat.get('p99', '-'):>7} µs  cpu {cpu:5.2f} s = {1e6 * cpu / msgs if msgs else 0:5.2f} µs/msg")
if perf:
    counts = {}
    for row in open(perf):
        f = row.strip().split(",")
        if len(f) > 2 and f[0].isdigit():
            counts[f[2].split(":")[-1].replace("sys_enter_", "")] = int(f[0])
    per = rate * perf_s
    line += "  per msg: " + " ".join(f"{k} {v / per:.2f}" for k, v in counts.items() if per)
print(line, flush=True)
PY
}

echo "rate $RATE msgs/s, $PACING pacing, $ROUNDS rounds of ${DURATION} s; p50/p90/p99 in µs"
for round in $(seq "$ROUNDS"); do
	echo "round $round"
	for i in "${!BINS[@]}"; do
		label=old
		[ "$i" = 1 ] && label=new
		run "$label" "${SW_PIDS[$i]}" switch "127.0.0.1:${SW_PORTS[$i]}" \
			--control "http://127.0.0.1:${SW_CTLS[$i]}"
	done
	run raw "$RAW_PID" raw "127.0.0.1:$RAW_PORT"
done
