#!/usr/bin/env bash
# SIP load test (make sipload): builds contactd (no -race) and ccload, and
# for every run writes the config with `ccload -write-config -mode sip`
# (queue "load", agents load1..N with a desk password and a SIP account
# each, a trunk for 127.0.0.0/8 with numbers 1000 "answer" and 1001
# "early_media", sip_listen on a free loopback UDP port, rtp_ports
# 20000-65000), starts contactd on it with a fresh data dir, runs ccload,
# stops contactd with SIGTERM, and at the end writes the "SIP" section of
# docs/BENCHMARKS.md from ccload's JSON lines. Figures only mean something
# on an otherwise idle machine: say what else ran in BENCH_NOTE.
#
# Signaling (ccload -mode sip, sipp 3.6 or later: Debian sip-tester): in one
# ccload run, sipp calls sipp directly (the baseline), then the same calls
# go through contactd: sipp uac -> trunk number -> queue -> agent. Each call
# is INVITE, 100/183, 200, ACK, the hold time, BYE, 200, without media.
# With SIPLOAD_AGENTS=phones the agents are at the desk (available, not
# accepting: their phone answers), their phones are registered with digest
# by ccload, Contact at one sipp uas that answers every phone at once; the
# number is 1001 (early media until the agent's phone answered), so a
# successful call is one an agent's phone answered. With none, nobody takes
# the calls: number 1000 answers at once and queues, the caller hangs up
# (the edge, the conversation, queueing and the abandon; no offer).
#
# Media (ccload -mode sip-media): N concurrent calls from ccload's phone
# callers (plain RTP, 50 packets/s each way) through contactd to agents in
# the browser (pion peers) or on ccload's phones (plain RTP); loss, added
# delay against direct pairs, payloads unchanged, contactd's CPU.
#
# Settings (environment):
#   SIPLOAD_AGENTS     phones (default) or none, for the signaling runs
#   SIPLOAD_SIGNALING  signaling runs, "calls a second:seconds:hold ms ..."
#                      (default "1000:30:0"; empty: none). Agents: ccload's
#                      default, rate × (ring + hold + 0.5 s) × 1.2 (600 at
#                      1,000/s, ring and hold 0), or SIPLOAD_SIP_AGENTS
#   SIPLOAD_SIP_AGENTS agents (and phones) of the signaling runs
#   SIPLOAD_RING       how long the agents' phones ring before answering
#                      (default 0ms: at once; the agents' default count
#                      grows with it)
#   SIPLOAD_MEDIA      media runs, "calls:new calls a second:window ..."
#                      (default "200:10:20s"; empty: none)
#   SIPLOAD_MEDIA_AGENTS  who takes the media runs' calls: "browser phones"
#                      (default: both, one run each)
#   SIPLOAD_OUT        JSON lines file (default sipload.out)
#   SIPLOAD_DOC        markdown file to update (default docs/BENCHMARKS.md;
#                      empty: do not update)
#   BENCH_NOTE         what else ran on the machine, written with the figures
#   SIPLOAD_SERVER_LOG a file that gets contactd's standard error
#   SIPLOAD_LOG_LEVEL  contactd's --log-level (default warn)
#   SIPP               the sipp program (default sipp)
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
AGENTS_MODE=${SIPLOAD_AGENTS:-phones}
SIGNALING=${SIPLOAD_SIGNALING-"1000:30:0"}
SIP_AGENTS=${SIPLOAD_SIP_AGENTS:-}
RING=${SIPLOAD_RING:-0ms}
MEDIA=${SIPLOAD_MEDIA-"200:10:20s"}
MEDIA_AGENTS=${SIPLOAD_MEDIA_AGENTS-"browser phones"}
OUT=${SIPLOAD_OUT:-sipload.out}
DOC=${SIPLOAD_DOC-docs/BENCHMARKS.md}
NOTE=${BENCH_NOTE:-}
SIPP=${SIPP:-sipp}

say() { echo "sipload: $*" >&2; }

if [[ -n $SIGNALING ]] && ! command -v "$SIPP" >/dev/null; then
	say "sipp is not installed (Debian: apt-get install sip-tester); it places the signaling runs' calls"
	exit 1
fi

tmp=$(mktemp -d)
server_pid=""
failed=0
cleanup() {
	if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
	if [[ -n ${SIPLOAD_SERVER_LOG:-} && -f $tmp/server.err ]]; then cat "$tmp/server.err" >>"$SIPLOAD_SERVER_LOG"; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# Thousands of sockets (RTP legs, agents' WebSockets, pion peers).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
rmem=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 0)
if (( rmem < 8388608 )); then
	say "note: net.core.rmem_max is $rmem: sipp asks for 8 MB UDP buffers and gets that much; at 1,000 calls/s a burst may overflow them (sysctl -w net.core.rmem_max=8388608 net.core.wmem_max=8388608 as root)"
fi

say "building contactd and ccload into $tmp (no -race)"
$GO build -o "$tmp/contactd" ./cmd/contactd
$GO build -o "$tmp/ccload" ./cmd/ccload

password="ccload-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

# start_server CONFIG DATADIR: starts contactd on a free loopback port and
# sets server_pid, addr and sip_addr (from the config's sip_listen).
start_server() {
	: >"$tmp/server.out"
	sip_addr=$(sed -n 's|^sip_listen: "udp://\(.*\)"$|\1|p' "$1")
	"$tmp/contactd" --config "$1" --http-addr 127.0.0.1:0 --data-dir "$2" \
		--drain-timeout 5s --log-level "${SIPLOAD_LOG_LEVEL:-warn}" >"$tmp/server.out" 2>>"$tmp/server.err" &
	server_pid=$!
	local i
	for ((i = 0; i < 600; i++)); do
		addr=$(sed -n 's|^contactd is ready on http://\([^ ]*\)$|\1|p' "$tmp/server.out")
		if [[ -n $addr ]]; then return 0; fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			say "contactd did not start:"; tail -20 "$tmp/server.err" >&2; exit 1
		fi
		sleep 0.2
	done
	say "contactd not ready after 120 s"; exit 1
}

stop_server() {
	kill -TERM "$server_pid"
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$server_pid" 2>/dev/null; then
		say "contactd still running 30 s after SIGTERM; killing it"
		kill -KILL "$server_pid"
	fi
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# ccload_run LABEL ARGS...: one ccload run, its JSON line appended to OUT.
ccload_run() {
	local label=$1
	shift
	say "ccload ${*/$password/...} (contactd pid $server_pid on $addr, SIP $sip_addr, $label)"
	if ! "$tmp/ccload" -addr "$addr" -sip-addr "$sip_addr" -server-pid "$server_pid" -label "$label" "$@" >>"$OUT"; then
		say "ccload failed"
		failed=1
	fi
}

: >"$OUT"
n=0
for run in $SIGNALING; do
	IFS=: read -r rate secs hold <<<"$run"
	hold=${hold:-0}
	# Agents: SIPLOAD_SIP_AGENTS, or ccload's default for the rate, ring
	# and hold (the same in -write-config and the run).
	agents_flag=()
	if [[ -n $SIP_AGENTS ]]; then agents_flag=(-agents "$SIP_AGENTS"); fi
	n=$((n + 1))
	"$tmp/ccload" -write-config -mode sip -sip-agents "$AGENTS_MODE" "${agents_flag[@]}" -rate-calls "$rate" -hold "${hold}ms" -ring "$RING" \
		-capacity 1 -agent-password "$password" >"$tmp/sip$n.yaml"
	start_server "$tmp/sip$n.yaml" "$tmp/sip$n-data"
	ccload_run sqlite -mode sip -sipp "$SIPP" -sip-agents "$AGENTS_MODE" "${agents_flag[@]}" -rate-calls "$rate" -duration "${secs}s" \
		-hold "${hold}ms" -ring "$RING" -agent-password "$password"
	stop_server
done

for run in $MEDIA; do
	IFS=: read -r calls rate window <<<"$run"
	agents=$((calls + 2 + calls / 20))
	for who in $MEDIA_AGENTS; do
		n=$((n + 1))
		"$tmp/ccload" -write-config -mode sip-media -sip-agents "$who" -agents "$agents" -capacity 1 -agent-password "$password" >"$tmp/sip$n.yaml"
		start_server "$tmp/sip$n.yaml" "$tmp/sip$n-data"
		ccload_run sqlite -mode sip-media -sip-agents "$who" -clients "$calls" -agents "$agents" -rate-calls "${rate:-10}" \
			-duration "${window:-20s}" -ring "$RING" -agent-password "$password"
		stop_server
	done
done

if [[ -n $DOC && -s $OUT ]]; then
	"$tmp/ccload" -report "$OUT" -out "$DOC" -note "$NOTE"
	say "figures written to $DOC (JSON lines in $OUT)"
fi
exit $failed
