#!/usr/bin/env bash
# Side by side on loopback: msrp-switch (release build), the raw TCP forwarder
# (`msrp-flood forward`, the ceiling of any user-space hop) and Kamailio's msrp module
# as an RFC 4976 relay (benches/kamailio/). The same loads run against each, and one
# table with ratios is printed. The switch's 1:1 loads also run over TLS and over
# WebSocket (RFC 7977, --ws-listen), as ratios of the same switch over TCP.
#
#   benches/compare.sh                 # as root on Debian 12: installs kamailio if missing
#                                      # (and runs nats-server beside it, if installed)
#
# Environment (all optional):
#   DURATION=8          seconds per load run (at most 10)
#   SESSIONS=1          1:1 sessions per run
#   WINDOW=256          outstanding SENDs per session
#   WARMUP=1            seconds of load before each measurement
#   FLOOD_THREADS=1     flooder worker threads (1 leaves the other core to the server)
#   KAMAILIO_WORKERS=2  Kamailio TCP worker processes (-n/-N)
#   BUDGET=300          seconds for the whole script, build excluded: no new run
#                       starts after it, and every run is bounded by `timeout`
#   SKIP_BUILD=1        reuse target/release binaries
#   KEEP_LOGS=1         keep the work directory (server logs, one JSON per run)
#   SWITCH_BIN, FLOOD_BIN  other binaries than target/release/{msrp-switch,msrp-flood}
#
# Everything listens on 127.0.0.1 and ports are picked free at start. Every process the
# script starts is recorded by PID and stopped by that PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-8}
SESSIONS=${SESSIONS:-1}
WINDOW=${WINDOW:-256}
WARMUP=${WARMUP:-1}
FLOOD_THREADS=${FLOOD_THREADS:-1}
KAMAILIO_WORKERS=${KAMAILIO_WORKERS:-2}
BUDGET=${BUDGET:-300}
if [ "$DURATION" -gt 10 ]; then DURATION=10; fi
STALL=3                                  # --stall-seconds: give up on a stuck run
RUN_LIMIT=$((DURATION + WARMUP + STALL + 10)) # hard bound of one flooder run

SWITCH_BIN=${SWITCH_BIN:-$ROOT/target/release/msrp-switch}
FLOOD_BIN=${FLOOD_BIN:-$ROOT/target/release/msrp-flood}
KAM_CFG=$ROOT/benches/kamailio/kamailio.cfg

WORK=$(mktemp -d /tmp/msrp-compare.XXXXXX)
PIDS=()     # the servers
RUN_PID=''  # the flooder run under way (its `timeout` wrapper), if any

log() { printf '[compare] %s\n' "$*" >&2; }

cleanup() {
	local pid i
	if [ -n "$RUN_PID" ]; then
		kill -TERM "$RUN_PID" 2>/dev/null || true # timeout passes it on to the flooder
		wait "$RUN_PID" 2>/dev/null || true
	fi
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			if [ "$i" -eq 50 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
			sleep 0.1
		done
		wait "$pid" 2>/dev/null || true
	done
	if [ "${KEEP_LOGS:-0}" = 1 ]; then
		log "logs and per-run JSON kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

# ---------------------------------------------------------------- prerequisites
if ! command -v kamailio >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing kamailio and python3 (apt-get)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio python3 >/dev/null
		if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet kamailio 2>/dev/null; then
			log "note: the package started kamailio.service (SIP on port 5060); this script" \
				"does not use it and leaves it alone: systemctl stop kamailio"
		fi
	fi
fi
command -v python3 >/dev/null 2>&1 || {
	log "python3 is needed to read the flooder's JSON"
	exit 1
}
HAVE_KAMAILIO=1
if ! command -v kamailio >/dev/null 2>&1; then
	HAVE_KAMAILIO=0
	log "kamailio is not installed (run as root on Debian: apt-get install -y kamailio); skipping it"
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
	log "cargo build --release -p msrp-switch -p msrp-benches"
	cargo build --release -p msrp-switch -p msrp-benches
fi
for bin in "$SWITCH_BIN" "$FLOOD_BIN"; do
	[ -x "$bin" ] || {
		log "missing $bin"
		exit 1
	}
done
DEADLINE=$((SECONDS + BUDGET))

# ---------------------------------------------------------------- the flooder's CLI
RUN_HELP=$("$FLOOD_BIN" run --help 2>&1) || {
	log "msrp-flood has no 'run' subcommand:"
	printf '%s\n' "$RUN_HELP" >&2
	exit 1
}
# the flag that names the target's MSRP address
ADDR_FLAG=$(grep -oE -- '--(target-addr|addr|address|connect|server)\b' <<<"$RUN_HELP" | head -n1 || true)
if [ -z "$ADDR_FLAG" ]; then
	log "cannot find the address flag in 'msrp-flood run --help'"
	exit 1
fi
# the relay target is listed and not marked "not implemented" (a smoke run below
# decides for good)
HAVE_RELAY=0
if grep -qw relay <<<"$RUN_HELP" && ! grep -Eqi 'relay:.*not implemented' <<<"$RUN_HELP"; then
	HAVE_RELAY=1
fi
HAVE_CHUNK=0
if grep -q -- '--chunk-size' <<<"$RUN_HELP"; then HAVE_CHUNK=1; fi

# ---------------------------------------------------------------- helpers
# Is something listening on 127.0.0.1:$1 (or 0.0.0.0)? Reads /proc, opens no connection
# (a probe connection would disturb the raw forwarder's pairing).
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp
}

# Is 127.0.0.1:$1 (or 0.0.0.0) any socket's local port, listening or connected? An
# outgoing connection's ephemeral port cannot be bound by a listener either.
port_used() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp
}

# free_port VAR: sets VAR to a port no socket uses and no earlier call returned
USED_PORTS=" "
free_port() {
	local p _
	for _ in $(seq 500); do
		p=$((20000 + RANDOM % 40000))
		case "$USED_PORTS" in *" $p "*) continue ;; esac
		if ! port_used "$p"; then
			USED_PORTS="$USED_PORTS$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	log "no free port found"
	return 1
}

# wait_listen PID PORT NAME LOG: up to 10 s for the server to listen
wait_listen() {
	local _
	for _ in $(seq 100); do
		if ! kill -0 "$1" 2>/dev/null; then
			log "$3 exited during start-up; last lines of $4:"
			tail -n 20 "$4" >&2 || true
			return 1
		fi
		if listening "$2"; then return 0; fi
		sleep 0.1
	done
	log "$3 is not listening on 127.0.0.1:$2 after 10 s"
	return 1
}

# utime+stime, in clock ticks, of PID $1 and all its descendants (threads included:
# /proc/PID/stat sums them). Fields after the ")" that ends the command name:
# $2 = ppid, $12 = utime, $13 = stime.
cpu_ticks() {
	# (processes may exit between the glob and the read: ignore cat's complaints)
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
		{ pid = $1; sub(/^.*\) /, ""); ppid[pid] = $2; t[pid] = $12 + $13 }
		END {
			keep[root] = 1; more = 1
			while (more) {
				more = 0
				for (p in ppid) if (!(p in keep) && (ppid[p] in keep)) { keep[p] = 1; more = 1 }
			}
			for (p in keep) s += t[p]
			print s + 0
		}'
}
HZ=$(getconf CLK_TCK)

# flood_json.py FILE KIND: one number from a flooder JSON report (last JSON object printed)
cat >"$WORK/flood_json.py" <<'PY'
import json, re, sys

def load(path):
    objs = []
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                objs.append(json.loads(line))
            except ValueError:
                pass
    if not objs:  # maybe pretty-printed over several lines
        try:
            objs.append(json.load(open(path)))
        except (ValueError, OSError):
            return {}
    return objs[-1]

def flat(o, prefix=""):
    if isinstance(o, dict):
        for k, v in o.items():
            yield from flat(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(o, (int, float)) and not isinstance(o, bool):
        yield prefix, float(o)

def find(f, names):
    for n in names:  # exact last component first, then anywhere in the path
        for k, v in f.items():
            if k.split(".")[-1].lower() == n:
                return k, v
    for n in names:
        for k, v in f.items():
            if n in k.lower():
                return k, v
    return None, None

def value(path, kind):
    # The flooder's report (benches/src/flood/report.rs): msgs_per_s, deliveries_per_s,
    # mb_per_s, messages, deliveries, duration_s, latency_us.{p50,p90,p99,p999,max},
    # errors.{non_200,hash_mismatch,lost,unanswered,duplicates}. Other spellings are
    # accepted so that a renamed field degrades to a lookup, not a crash.
    f = dict(flat(load(path)))
    if kind == "msgs_per_sec":  # messages relayed per second: the deliveries
        return find(f, ["deliveries_per_s", "msgs_per_s", "msgs_per_sec", "messages_per_second"])[1]
    if kind == "mb_per_sec":
        k, v = find(f, ["mb_per_s", "mb_per_sec", "mbytes_per_sec"])
        if v is not None:
            return v
        k, v = find(f, ["bytes_per_s", "bytes_per_sec"])
        return None if v is None else v / 1e6
    if kind == "duration_s":
        return find(f, ["duration_s", "duration_seconds"])[1]
    if kind == "errors":  # sum of every error counter
        errs = [v for k, v in f.items() if k.startswith("errors.")]
        return sum(errs) if errs else None
    if kind == "p99_ms":
        for k, v in f.items():
            kl = k.lower()
            if kl.split(".")[-1] in ("p99", "p99_us", "p99_ms", "p99_ns"):
                if kl.endswith("_ms") or "latency_ms" in kl:
                    return v
                if kl.endswith("_ns") or "latency_ns" in kl:
                    return v / 1e6
                return v / 1e3  # microseconds (latency_us.p99)
        return None
    if kind.startswith("errors."):
        return f.get(kind)
    raise SystemExit(f"unknown kind {kind}")

v = value(sys.argv[1], sys.argv[2])
print("" if v is None else f"{v:.6g}")
PY
jnum() { python3 "$WORK/flood_json.py" "$1" "$2" 2>/dev/null || true; }

# ---------------------------------------------------------------- servers
SW_PORT='' SW_TLS='' SW_WS='' SW_CTL='' SW_MET='' RAW_PORT='' KAM_PORT=''
for var in SW_PORT SW_TLS SW_WS SW_CTL SW_MET RAW_PORT KAM_PORT; do free_port "$var"; done

# MSRP over WebSocket (RFC 7977): when both the switch (--ws-listen) and the flooder
# (--transport ws) have it
HAVE_WS=0
WS_FLAGS=()
if "$SWITCH_BIN" --help 2>&1 | grep -q -- '--ws-listen' &&
	grep -q -- '--transport' <<<"$RUN_HELP" &&
	grep -Eqi '^ *- ws:|possible values:.*\bws\b' <<<"$RUN_HELP"; then
	HAVE_WS=1
	WS_FLAGS=(--ws-listen "127.0.0.1:$SW_WS")
fi

log "starting msrp-switch on 127.0.0.1:$SW_PORT (TLS $SW_TLS, WebSocket ${WS_FLAGS[1]:-off}, control $SW_CTL, metrics $SW_MET, 1 shard; also the RFC 4976 relay, AUTH without a challenge as Kamailio's config)"
"$SWITCH_BIN" --listen "127.0.0.1:$SW_PORT" --tls-listen "127.0.0.1:$SW_TLS" "${WS_FLAGS[@]}" \
	--control-listen "127.0.0.1:$SW_CTL" --metrics-listen "127.0.0.1:$SW_MET" --shards 1 \
	--relay-auth none >"$WORK/switch.log" 2>&1 &
SW_PID=$!
PIDS+=("$SW_PID")

log "starting the raw forwarder on 127.0.0.1:$RAW_PORT (1 thread)"
"$FLOOD_BIN" forward --listen "127.0.0.1:$RAW_PORT" --threads 1 >"$WORK/raw.log" 2>&1 &
RAW_PID=$!
PIDS+=("$RAW_PID")

KAM_PID=
if [ "$HAVE_KAMAILIO" = 1 ]; then
	mkdir -p "$WORK/kamailio-run"
	if ! kamailio -c -f "$KAM_CFG" -l "tcp:127.0.0.1:$KAM_PORT" >"$WORK/kamailio-check.log" 2>&1; then
		log "kamailio rejects $KAM_CFG:"
		tail -n 20 "$WORK/kamailio-check.log" >&2
		HAVE_KAMAILIO=0
	else
		log "starting Kamailio on 127.0.0.1:$KAM_PORT ($KAMAILIO_WORKERS workers)"
		kamailio -f "$KAM_CFG" -DD -E -l "tcp:127.0.0.1:$KAM_PORT" \
			-n "$KAMAILIO_WORKERS" -N "$KAMAILIO_WORKERS" -Y "$WORK/kamailio-run" \
			-m 256 -M 16 >"$WORK/kamailio.log" 2>&1 &
		KAM_PID=$!
		PIDS+=("$KAM_PID")
	fi
fi

wait_listen "$SW_PID" "$SW_PORT" msrp-switch "$WORK/switch.log"
wait_listen "$SW_PID" "$SW_CTL" "msrp-switch control API" "$WORK/switch.log"
wait_listen "$SW_PID" "$SW_TLS" "msrp-switch TLS" "$WORK/switch.log"
if [ "$HAVE_WS" = 1 ]; then
	wait_listen "$SW_PID" "$SW_WS" "msrp-switch WebSocket" "$WORK/switch.log"
fi
# The certificate the switch generated at start, for the handshake run.
SW_FINGERPRINT=$(grep -oE 'fingerprint=sha-256 [0-9A-F:]+' "$WORK/switch.log" | head -n1 | cut -d= -f2- || true)
wait_listen "$RAW_PID" "$RAW_PORT" "raw forwarder" "$WORK/raw.log"
if [ -n "$KAM_PID" ]; then
	wait_listen "$KAM_PID" "$KAM_PORT" kamailio "$WORK/kamailio.log" || {
		HAVE_KAMAILIO=0
		KAM_PID=
	}
fi

RUN_RELAY=0
if [ "$HAVE_KAMAILIO" = 1 ]; then
	if [ "$HAVE_RELAY" = 1 ] && timeout 15 "$FLOOD_BIN" run --target relay \
		"$ADDR_FLAG" "127.0.0.1:$KAM_PORT" --count 10 --warmup-seconds 0 --quiet --json \
		>"$WORK/relay-smoke.json" 2>"$WORK/relay-smoke.err"; then
		RUN_RELAY=1
	else
		log "relay target not available yet in msrp-flood: Kamailio is started but not loaded"
		if [ -s "$WORK/relay-smoke.err" ]; then tail -n 3 "$WORK/relay-smoke.err" >&2; fi
	fi
fi

# ---------------------------------------------------------------- runs
# flood NAME TARGET [extra flags...]: one bounded run; JSON in $WORK/NAME.json and the
# server's CPU ticks during the run in $WORK/NAME.cpu
flood() {
	local name=$1 target=$2 addr pid before after
	shift 2
	if [ $((SECONDS + RUN_LIMIT)) -gt "$DEADLINE" ]; then
		log "skipping $name: the ${BUDGET}s budget would be exceeded"
		return 0
	fi
	local extra=()
	case "$target" in
	switch)
		addr=127.0.0.1:$SW_PORT
		pid=$SW_PID
		extra=(--control "http://127.0.0.1:$SW_CTL")
		;;
	switch-tls) # the same switch, every participant over TLS
		target=switch
		addr=127.0.0.1:$SW_TLS
		pid=$SW_PID
		extra=(--control "http://127.0.0.1:$SW_CTL" --tls)
		;;
	switch-ws) # the same switch, every participant over WebSocket (RFC 7977)
		target=switch
		addr=127.0.0.1:$SW_WS
		pid=$SW_PID
		extra=(--control "http://127.0.0.1:$SW_CTL" --transport ws)
		;;
	raw)
		addr=127.0.0.1:$RAW_PORT
		pid=$RAW_PID
		;;
	relay)
		addr=127.0.0.1:$KAM_PORT
		pid=$KAM_PID
		;;
	switch-relay) # the same switch as an RFC 4976 relay, driven exactly as Kamailio is
		target=relay
		addr=127.0.0.1:$SW_PORT
		pid=$SW_PID
		;;
	esac
	log "run $name: --target $target $*"
	before=$(cpu_ticks "$pid")
	# in the background, so that a signal to this script is handled at once (bash runs
	# traps only between foreground commands, but does interrupt `wait`)
	timeout --kill-after=5 "$RUN_LIMIT" "$FLOOD_BIN" run --target "$target" \
		"$ADDR_FLAG" "$addr" "${extra[@]}" --sessions "$SESSIONS" --window "$WINDOW" \
		--duration-seconds "$DURATION" --warmup-seconds "$WARMUP" --stall-seconds "$STALL" \
		--threads "$FLOOD_THREADS" --json --quiet "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
	RUN_PID=$!
	local status=0
	wait "$RUN_PID" || status=$?
	RUN_PID=''
	case "$status" in
	0) ;;
	124 | 137) log "run $name timed out after ${RUN_LIMIT}s and was stopped" ;;
	*)
		log "run $name failed (exit $status); last lines of its stderr:"
		tail -n 10 "$WORK/$name.err" >&2 || true
		;;
	esac
	after=$(cpu_ticks "$pid")
	echo $((after - before)) >"$WORK/$name.cpu"
}

# 1. peak 1:1 rate, 1 KiB messages
flood switch_1k switch --size 1024
flood raw_1k raw --size 1024
if [ "$RUN_RELAY" = 1 ]; then flood kam_1k relay --size 1024; fi
if [ "$HAVE_RELAY" = 1 ]; then flood swrelay_1k switch-relay --size 1024; fi

# 2. 64 KiB messages: in one 64 KiB chunk (switch, raw), and in 8 KiB chunks (all
#    three: Kamailio relays no frame of 11239 bytes or more, see benches/kamailio/README.md)
if [ "$HAVE_CHUNK" = 1 ]; then
	flood switch_64k switch --size 65536 --chunk-size 65536
	flood raw_64k raw --size 65536 --chunk-size 65536
	flood switch_64k8 switch --size 65536 --chunk-size 8192
	flood raw_64k8 raw --size 65536 --chunk-size 8192
	if [ "$RUN_RELAY" = 1 ]; then flood kam_64k8 relay --size 65536 --chunk-size 8192; fi
	if [ "$HAVE_RELAY" = 1 ]; then
		flood swrelay_64k switch-relay --size 65536 --chunk-size 65536
		flood swrelay_64k8 switch-relay --size 65536 --chunk-size 8192
	fi
else
	log "msrp-flood run has no --chunk-size: skipping the 64 KiB runs"
fi

# 2a. over TLS (msrps participants, same switch and cores): 1 KiB rate and 64 KiB
#     throughput, and TLS handshakes per second (8 clients connecting back to back)
if grep -q -- '--tls' <<<"$RUN_HELP"; then
	flood switch_tls_1k switch-tls --size 1024
	if [ "$HAVE_CHUNK" = 1 ]; then flood switch_tls_64k switch-tls --size 65536 --chunk-size 65536; fi
	if [ -n "$SW_FINGERPRINT" ] && [ $((SECONDS + DURATION + 10)) -le "$DEADLINE" ]; then
		log "run handshakes: 8 clients, ${DURATION}s"
		before=$(cpu_ticks "$SW_PID")
		timeout --kill-after=5 $((DURATION + 10)) "$FLOOD_BIN" handshakes \
			--addr "127.0.0.1:$SW_TLS" --fingerprint "$SW_FINGERPRINT" --concurrency 8 \
			--duration-seconds "$DURATION" --threads "$FLOOD_THREADS" --json \
			>"$WORK/handshakes.out" 2>"$WORK/handshakes.err" &
		RUN_PID=$!
		wait "$RUN_PID" || log "the handshake run failed: $(tail -n 3 "$WORK/handshakes.err")"
		RUN_PID=''
		echo $(($(cpu_ticks "$SW_PID") - before)) >"$WORK/handshakes.cpu"
	fi
fi

# 2b. over WebSocket (RFC 7977: `;ws` participants on --ws-listen, one message per
#     MSRP frame; same switch and cores): 1 KiB rate and 64 KiB throughput
if [ "$HAVE_WS" = 1 ]; then
	flood switch_ws_1k switch-ws --size 1024
	if [ "$HAVE_CHUNK" = 1 ]; then flood switch_ws_64k switch-ws --size 65536 --chunk-size 65536; fi
else
	log "no WebSocket in msrp-switch (--ws-listen) or msrp-flood (--transport ws): skipping its runs"
fi

# 2c. group fan-out (RFC 7701): one sender, 99 receivers, 1 KiB; deliveries/s set
#     against Kamailio's 1:1 msgs/s (it has no group fan-out to compare with)
if grep -q -- '--group-size' <<<"$RUN_HELP"; then
	flood switch_group switch --size 1024 --group-size 100
fi

# 2d. the same fan-out on a NATS server (Debian's nats-server, issue 20): one
#     publisher, 99 subscribers, 1 KiB, its deliveries/s and per server CPU-second
if command -v nats-server >/dev/null 2>&1 && grep -q -- ' nats ' <<<"$("$FLOOD_BIN" --help 2>&1)"; then
	NATS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
	NATS_PID=$!
	PIDS+=("$NATS_PID")
	for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
	log "nats: fan-out to 99 subscribers on nats-server $NATS_PORT"
	timeout $((DURATION + WARMUP + 30)) "$FLOOD_BIN" nats --addr "127.0.0.1:$NATS_PORT" \
		--subscribers 99 --size 1024 --duration-seconds "$DURATION" --warmup-seconds "$WARMUP" \
		--pid "$NATS_PID" --threads "$FLOOD_THREADS" --json >"$WORK/nats_group.json" 2>"$WORK/nats_group.err" ||
		log "the NATS run failed: $(tail -n 3 "$WORK/nats_group.err")"
else
	log "nats-server is not installed (apt-get install -y nats-server): skipping the NATS row"
fi

# 3. latency at half the peak: switch and raw at half the switch's peak; Kamailio (and
#    raw again, as its baseline) at half Kamailio's own peak, which is far lower
half_rate() {
	local r
	r=$(jnum "$WORK/$1.json" msgs_per_sec)
	[ -n "$r" ] && python3 -c "import sys; print(max(1, int(float(sys.argv[1]) / 2)))" "$r"
}
SW_HALF=$(half_rate switch_1k || true)
if [ -n "$SW_HALF" ]; then
	flood switch_lat switch --size 1024 --rate "$SW_HALF"
	flood raw_lat_sw raw --size 1024 --rate "$SW_HALF"
fi
if [ "$RUN_RELAY" = 1 ]; then
	KAM_HALF=$(half_rate kam_1k || true)
	if [ -n "$KAM_HALF" ]; then
		flood kam_lat relay --size 1024 --rate "$KAM_HALF"
		flood raw_lat_kam raw --size 1024 --rate "$KAM_HALF"
	fi
fi

# ---------------------------------------------------------------- table
python3 - "$WORK" "$HZ" "$DURATION" "$WARMUP" "$SESSIONS" "$WINDOW" "$KAMAILIO_WORKERS" \
	"${SW_HALF:-}" "${KAM_HALF:-}" "$RUN_RELAY" <<'PY'
import os, subprocess, sys

(work, hz, duration, warmup, sessions, window, kworkers, sw_half, kam_half,
 run_relay) = sys.argv[1:11]
hz, warmup = float(hz), float(warmup)

def j(name, kind):
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    out = subprocess.run([sys.executable, os.path.join(work, "flood_json.py"), path, kind],
                         capture_output=True, text=True).stdout.strip()
    return float(out) if out else None

def cpu_s(name):
    try:
        return int(open(os.path.join(work, name + ".cpu")).read().strip()) / hz
    except (OSError, ValueError):
        return None

def cpu_per_million(name):
    # CPU is read around the whole run, warm-up included; the flooder counts only the
    # measured part, so the messages of the whole run are rate x (warm-up + measured).
    c, rate, dur = cpu_s(name), j(name, "msgs_per_sec"), j(name, "duration_s")
    if c is None or not rate:
        return None
    n = rate * ((dur if dur else float(duration)) + warmup)
    return c / (n / 1e6)

def fmt(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.3f}"
    return s + unit

def ratio(a, b):
    return "-" if a is None or b in (None, 0) else f"{a / b:.2f}x"

def sub(a, b):
    return None if a is None or b is None else a - b

rows = []
sw, raw, kam = j("switch_1k", "msgs_per_sec"), j("raw_1k", "msgs_per_sec"), j("kam_1k", "msgs_per_sec")
rows.append(("1:1, 1 KiB, msgs/s", fmt(sw), fmt(raw), fmt(kam), ratio(sw, raw), ratio(sw, kam),
             ">= 0.60x raw, >= 5x kamailio"))
sw, raw = j("switch_64k", "mb_per_sec"), j("raw_64k", "mb_per_sec")
rows.append(("1:1, 64 KiB chunks, MB/s", fmt(sw), fmt(raw), "n/a (frame limit)", ratio(sw, raw), "-",
             ">= 0.90x raw"))
sw, raw, kam = j("switch_64k8", "mb_per_sec"), j("raw_64k8", "mb_per_sec"), j("kam_64k8", "mb_per_sec")
rows.append(("1:1, 64 KiB in 8 KiB chunks, MB/s", fmt(sw), fmt(raw), fmt(kam), ratio(sw, raw),
             ratio(sw, kam), ""))
sw_p, rawsw_p = j("switch_lat", "p99_ms"), j("raw_lat_sw", "p99_ms")
kam_p, rawk_p = j("kam_lat", "p99_ms"), j("raw_lat_kam", "p99_ms")
rows.append(("p99 send-to-delivery, ms", fmt(sw_p), fmt(rawsw_p) + " / " + fmt(rawk_p), fmt(kam_p),
             "-", "-", ""))
sw_a, kam_a = sub(sw_p, rawsw_p), sub(kam_p, rawk_p)
rows.append(("added p99 over raw, ms", fmt(sw_a), "0", fmt(kam_a), "-", ratio(sw_a, kam_a),
             "switch < 0.5 ms"))
gd = j("switch_group", "msgs_per_sec")  # deliveries/s (flood_json prefers deliveries)
kam_1k = j("kam_1k", "msgs_per_sec")
rows.append(("group of 100, 1 KiB, deliveries/s", fmt(gd), "-", "n/a (no fan-out)", "-",
             ratio(gd, kam_1k) + " of 1:1", ">= 15x kamailio 1:1 msgs/s"))
rows.append(("group of 100, p99 send-to-delivery, ms", fmt(j("switch_group", "p99_ms")), "-", "-",
             "-", "-", "at peak, window " + str(window)))
gc = cpu_per_million("switch_group")
rows.append(("server CPU s per million group deliveries", fmt(gc), "-", "-", "-", "-",
             "lower is better"))
def nats(field):
    try:
        import json
        return json.load(open(os.path.join(work, "nats_group.json")))[field]
    except (OSError, ValueError, KeyError):
        return None

nd = nats("deliveries_per_s")
rows.append(("group of 100 vs NATS (99 subscribers), deliveries/s", fmt(gd), "-", "-",
             "NATS " + fmt(nd) + ": " + ratio(gd, nd), "-", "switch >= NATS (issue 20)"))
ncpu = nats("deliveries_per_cpu_second")
sw_cpu = (1e6 / gc) if gc else None
rows.append(("group deliveries per server CPU-second", fmt(sw_cpu), "-", "-",
             "NATS " + fmt(ncpu) + ": " + ratio(sw_cpu, ncpu), "-", "switch >= NATS (issue 20)"))
tls, tcp = j("switch_tls_1k", "msgs_per_sec"), j("switch_1k", "msgs_per_sec")
rows.append(("1:1 over TLS, 1 KiB, msgs/s", fmt(tls), "-", "-", ratio(tls, tcp) + " of TCP", "-",
             ">= 0.70x the switch over TCP"))
tls, tcp = j("switch_tls_64k", "mb_per_sec"), j("switch_64k", "mb_per_sec")
rows.append(("1:1 over TLS, 64 KiB chunks, MB/s", fmt(tls), "-", "-", ratio(tls, tcp) + " of TCP", "-",
             ""))
ws, tcp = j("switch_ws_1k", "msgs_per_sec"), j("switch_1k", "msgs_per_sec")
rows.append(("1:1 over WebSocket, 1 KiB, msgs/s", fmt(ws), "-", "-", ratio(ws, tcp) + " of TCP", "-",
             ""))
ws, tcp = j("switch_ws_64k", "mb_per_sec"), j("switch_64k", "mb_per_sec")
rows.append(("1:1 over WebSocket, 64 KiB chunks, MB/s", fmt(ws), "-", "-", ratio(ws, tcp) + " of TCP",
             "-", ""))
try:
    import json
    hs = json.loads(open(os.path.join(work, "handshakes.out")).read().strip().splitlines()[-1])
    hs_cpu = int(open(os.path.join(work, "handshakes.cpu")).read()) / hz
    per_core = hs["handshakes"] / hs_cpu if hs_cpu else None
    rows.append(("TLS handshakes/s (8 clients)", fmt(hs["per_second"]), "-", "-", "-", "-",
                 f"{fmt(per_core)} per server CPU second"))
except (OSError, ValueError, KeyError, IndexError):
    rows.append(("TLS handshakes/s (8 clients)", "-", "-", "-", "-", "-", ""))
sw_c, raw_c, kam_c = cpu_per_million("switch_1k"), cpu_per_million("raw_1k"), cpu_per_million("kam_1k")
rows.append(("server CPU s per million 1 KiB msgs", fmt(sw_c), fmt(raw_c), fmt(kam_c), ratio(sw_c, raw_c),
             ratio(sw_c, kam_c), "lower is better"))

# The switch as an RFC 4976 relay, driven exactly as Kamailio is: its own column,
# and its ratio to Kamailio, on the rows where Kamailio runs the same load.
rl_1k, rl_64k, rl_64k8 = (j("swrelay_1k", "msgs_per_sec"), j("swrelay_64k", "mb_per_sec"),
                          j("swrelay_64k8", "mb_per_sec"))
rl_c = cpu_per_million("swrelay_1k")
relay_cells = {
    "1:1, 1 KiB, msgs/s": (fmt(rl_1k), ratio(rl_1k, kam_1k), "relay >= 8x kamailio"),
    "1:1, 64 KiB chunks, MB/s": (fmt(rl_64k), "-", "relay: one frame (kamailio cannot)"),
    "1:1, 64 KiB in 8 KiB chunks, MB/s": (fmt(rl_64k8), ratio(rl_64k8, j("kam_64k8", "mb_per_sec")), ""),
    "server CPU s per million 1 KiB msgs": (fmt(rl_c), ratio(kam_c, rl_c) + " less",
                                            "relay >= 6x kamailio's msgs per CPU s"),
}
def widen(r):
    value, vs_kam, target = relay_cells.get(r[0], ("-", "-", ""))
    goal = "; ".join(t for t in (r[6], target) if t)
    return (r[0], r[1], value, r[2], r[3], r[4], r[5], vs_kam, goal)
rows = [widen(r) for r in rows]
head = ("measure", "switch", "switch relay", "raw", "kamailio", "switch/raw", "switch/kamailio",
        "relay vs kamailio", "design target")
widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
print()
print(f"msrp-switch (as a switch and as an RFC 4976 relay) vs raw forwarder vs Kamailio msrp relay: "
      f"loopback, {sessions} session(s), "
      f"window {window}, {duration} s per run after {warmup:g} s warm-up, switch --shards 1, "
      f"kamailio {kworkers} workers")
print(line(head))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in rows:
    print(line(r))
print()
print(f"Latency runs are paced: switch and raw at half the switch's peak ({sw_half or '-'} msgs/s), "
      f"kamailio and raw again at half Kamailio's peak ({kam_half or '-'} msgs/s); the raw column "
      "shows both. Added p99 = p99 minus the raw forwarder's p99 at the same rate.")
print("CPU = utime+stime of the server process and its children over the whole run.")
if run_relay != "1":
    print("kamailio column empty: relay target not available yet (or kamailio missing).")
bad = []
for f in sorted(os.listdir(work)):
    if f.endswith(".json") and f != "relay-smoke.json":
        name = f[:-5]
        e = j(name, "errors")
        if e:
            parts = [f"{k} {int(j(name, 'errors.' + k) or 0)}"
                     for k in ("non_200", "hash_mismatch", "lost", "unanswered", "duplicates")]
            bad.append(f"  {name}: " + ", ".join(p for p in parts if not p.endswith(" 0")))
        elif os.path.getsize(os.path.join(work, f)) == 0:
            bad.append(f"  {name}: no report (see {name}.err; KEEP_LOGS=1 keeps it)")
if bad:
    print("Runs with errors (their figures are still shown):")
    print("\n".join(bad))
PY
