#!/usr/bin/env bash
# Idle legs past one process's file limit: several msrp-switch processes on one
# machine, each loaded with bound idle participants by its own msrp-idle, all at
# once. For machines whose hard `nofile` limit (ulimit -Hn) caps one process below
# the legs wanted and cannot be raised (no CAP_SYS_RESOURCE).
#
#   benches/idle-many.sh                     # 14 switches x 18,000 participants
#   PROCS=4 PER_PROC=5000 benches/idle-many.sh
#   SOURCES=1 benches/idle-many.sh           # msrp-idle i connects from 127.0.0.(i+2)
#
# Prints one msrp-idle JSON line per switch, then the totals: participants bound,
# the set-up time of the whole set (its slowest switch) and the rate over it, the
# switches' RSS growth per participant, the kernel's unreclaimable slab growth per
# participant (the sockets of both ends of every loopback connection), and the
# msrp-idle clients' RSS per participant.
# Needs release builds of msrp-switch and msrp-idle:
#   cargo build --release -p msrp-switch -p msrp-benches
# Every switch it starts is stopped by its PID at the end, and the whole run is
# bounded by TIMEOUT seconds.
set -euo pipefail

PROCS=${PROCS:-14}
PER_PROC=${PER_PROC:-18000}
TIMEOUT=${TIMEOUT:-600}
# Ports below 32768, so the clients' ephemeral ports never take them.
BASE_PORT=${BASE_PORT:-20000}
# 1: each msrp-idle connects from its own loopback address and picks its ports
# itself (`--source`), so no connect searches the ephemeral range for a port:
# that search is quadratic in the connections to one switch.
SOURCES=${SOURCES:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SWITCH=${SWITCH:-$ROOT/target/release/msrp-switch}
IDLE=${IDLE:-$ROOT/target/release/msrp-idle}
WORK=$(mktemp -d /tmp/msrp-idle-many.XXXXXX)

for bin in "$SWITCH" "$IDLE"; do
	[ -x "$bin" ] || { echo "missing $bin: cargo build --release -p msrp-switch -p msrp-benches" >&2; exit 1; }
done
limit=$(ulimit -Hn)
if [ "$PER_PROC" -gt $((limit - 200)) ]; then
	echo "PER_PROC=$PER_PROC does not fit under this machine's nofile limit of $limit per process" >&2
	exit 1
fi
ulimit -Sn "$limit"

pids=()
idles=()
cleanup() {
	for pid in "${idles[@]}" "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${idles[@]}" "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# The kernel's unreclaimable slab (socket structures live there), in KiB.
slab_kib() { awk '/^SUnreclaim:/ {print $2}' /proc/meminfo; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
slab_before=$(slab_kib)
for i in $(seq 0 $((PROCS - 1))); do
	port=$((BASE_PORT + 10 * i))
	"$SWITCH" --shards 1 --listen "127.0.0.1:$port" --tls false \
		--control-listen "127.0.0.1:$((port + 1))" --metrics-listen "127.0.0.1:$((port + 2))" \
		--max-connections-per-source $((PER_PROC + 1000)) \
		--max-unbound-connections $((PER_PROC + 1000)) >"$WORK/switch-$i.log" 2>&1 &
	pids+=($!)
done
# Each switch is up once its control port listens.
for i in $(seq 0 $((PROCS - 1))); do
	hex=$(printf '%04X' $((BASE_PORT + 10 * i + 1)))
	for _ in $(seq 100); do
		grep -q ":$hex " /proc/net/tcp && break
		sleep 0.1
	done
	grep -q ":$hex " /proc/net/tcp || { echo "switch $i did not start: $(tail -n 3 "$WORK/switch-$i.log")" >&2; exit 1; }
done

for i in $(seq 0 $((PROCS - 1))); do
	port=$((BASE_PORT + 10 * i))
	source=()
	if [ "$SOURCES" = 1 ]; then source=(--source "127.0.0.$((i + 2))"); fi
	timeout "$TIMEOUT" "$IDLE" --pid "${pids[$i]}" --control "http://127.0.0.1:$((port + 1))" \
		--addr "127.0.0.1:$port" --participants "$PER_PROC" --settle-seconds 5 \
		--hold-seconds "$TIMEOUT" "${source[@]}" \
		>"$WORK/idle-$i.json" 2>"$WORK/idle-$i.err" &
	idles+=($!)
done
# msrp-idle prints its result once its participants are bound and the RSS has
# settled, then holds them until it is stopped here: the machine's memory is read
# while every one of them is still up.
for i in $(seq 0 $((PROCS - 1))); do
	for _ in $(seq "$TIMEOUT"); do
		[ -s "$WORK/idle-$i.json" ] && break
		kill -0 "${idles[$i]}" 2>/dev/null || break
		sleep 1
	done
done
slab_after=$(slab_kib)
clients_kib=0
for pid in "${idles[@]}"; do clients_kib=$((clients_kib + $(rss_kib "$pid"))); done
for pid in "${idles[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${idles[@]}"; do wait "$pid" 2>/dev/null || true; done

cat "$WORK"/idle-*.json
python3 - "$WORK" "$PROCS" "$slab_before" "$slab_after" "$clients_kib" <<'PY'
import glob, json, sys
work, procs = sys.argv[1], int(sys.argv[2])
slab_before, slab_after, clients_kib = map(int, sys.argv[3:])
runs = []
for path in sorted(glob.glob(f"{work}/idle-*.json")):
    text = open(path).read().strip()
    if text:
        runs.append(json.loads(text.splitlines()[-1]))
legs = sum(r["participants"] for r in runs)
print(f"{len(runs)} of {procs} switches reported {legs} bound idle participants")
if legs:
    grown = sum(r["rss_after_kib"] - r["rss_before_kib"] for r in runs) * 1024
    slowest = max(r["setup_seconds"] for r in runs)
    print(f"set up in parallel in {slowest:.1f} s: {legs / slowest:.0f} bound legs/s over the whole set "
          f"(per switch: {min(r['bound_legs_per_s'] for r in runs)}-{max(r['bound_legs_per_s'] for r in runs)})")
    print(f"switch RSS growth: {grown / legs:.0f} bytes per participant "
          f"(per switch: {min(r['bytes_per_participant'] for r in runs)}-"
          f"{max(r['bytes_per_participant'] for r in runs)})")
    print(f"kernel unreclaimable slab growth: {(slab_after - slab_before) * 1024 / legs:.0f} bytes per "
          f"participant (both ends of each loopback connection)")
    print(f"the msrp-idle clients' RSS: {clients_kib * 1024 / legs:.0f} bytes per participant")
PY
