#!/usr/bin/env bash
# Load test (make loadtest): builds contactd and ccload, starts contactd on
# 127.0.0.1 (a free port) with a fresh data dir, drives it with ccload in
# chat mode at a few sizes, in idle mode and in voice mode, stopping it with
# SIGTERM after each run, and writes the tables of docs/BENCHMARKS.md's
# "Load (ccload)" section from ccload's JSON lines (voice runs have their
# own table, so a run of only one kind leaves the other's figures alone). Both processes run on this machine and share its
# cores; GOMAXPROCS is left at its default for both (the JSON records it).
#
# Settings (environment):
#   LOADTEST_CHAT    chat runs, "visitors:chats per agent:ramp ..."
#                    (default "300:4:15s 2000:50:20s"; add 5000:100:50s on a
#                    machine that copes)
#   LOADTEST_WINDOW  measurement window of each chat run (default 20s)
#   LOADTEST_IDLE    idle run, "connections:ramp" (default 10000:40s; empty: none)
#   LOADTEST_IDLE_WINDOW  how long the idle connections stay (default 10s)
#   LOADTEST_VOICE   voice runs, "calls:new calls a second:window ..."
#                    (default "200:10:20s"; empty: none). Each call is two
#                    pion peers in ccload bridged by contactd, whose media
#                    listens on a free loopback UDP port; 10 direct peer
#                    pairs run beside them for the added delay
#   LOADTEST_POSTGRES  a PostgreSQL server URL without the database, such as
#                    postgres://postgres@127.0.0.1:5432: then the first chat
#                    run of LOADTEST_POSTGRES_CHAT (default 2000:50:20s) runs
#                    on a fresh database there too, dropped at the end
#   LOADTEST_OUT     JSON lines file (default loadtest.out)
#   LOADTEST_DOC     markdown file to update (default docs/BENCHMARKS.md;
#                    empty: do not update)
#   BENCH_NOTE       what else ran on the machine, written next to the figures
#   LOADTEST_SERVER_LOG  a file that gets contactd's standard error of every
#                    run (warnings and errors; default: none kept)
#   LOADTEST_LOG_LEVEL  contactd's --log-level (default warn; info or debug
#                    with LOADTEST_SERVER_LOG to follow calls and legs)
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
CHAT=${LOADTEST_CHAT-"300:4:15s 2000:50:20s"}
WINDOW=${LOADTEST_WINDOW:-20s}
IDLE=${LOADTEST_IDLE-"10000:40s"}
IDLE_WINDOW=${LOADTEST_IDLE_WINDOW:-10s}
VOICE=${LOADTEST_VOICE-"200:10:20s"}
PG=${LOADTEST_POSTGRES:-}
PG_CHAT=${LOADTEST_POSTGRES_CHAT:-"2000:50:20s"}
OUT=${LOADTEST_OUT:-loadtest.out}
DOC=${LOADTEST_DOC-docs/BENCHMARKS.md}
NOTE=${BENCH_NOTE:-}

tmp=$(mktemp -d)
server_pid=""
pg_db=""
failed=0

cleanup() {
	if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
	if [[ -n ${LOADTEST_SERVER_LOG:-} && -f $tmp/server.err ]]; then cat "$tmp/server.err" >>"$LOADTEST_SERVER_LOG"; fi
	if [[ -n $pg_db ]]; then psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

say() { echo "loadtest: $*" >&2; }

say "building contactd and ccload into $tmp"
$GO build -o "$tmp/contactd" ./cmd/contactd
$GO build -o "$tmp/ccload" ./cmd/ccload

# The agents' password exists only for this run.
password="ccload-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

# agents_for VISITORS CAPACITY: what ccload uses by default.
agents_for() { echo $(( ($1 + $2 - 1) / $2 + 1 )); }
# voice_agents_for CALLS: what ccload -mode voice uses by default.
voice_agents_for() { echo $(( $1 + 2 + $1 / 20 )); }

# Every config has as many agents as the largest run needs; smaller runs
# log in the first ones. Accounts are created on the first start only.
max_agents=1
for run in $CHAT ${PG:+$PG_CHAT}; do
	IFS=: read -r v c _ <<<"$run"
	n=$(agents_for "$v" "$c")
	(( n > max_agents )) && max_agents=$n
done

# start_server CONFIG DATADIR [DATABASE_URL]: starts contactd on a free
# loopback port and sets server_pid and addr.
start_server() {
	: >"$tmp/server.out"
	DATABASE_URL=${3:-} "$tmp/contactd" --config "$1" --http-addr 127.0.0.1:0 --data-dir "$2" \
		--drain-timeout 5s --log-level ${LOADTEST_LOG_LEVEL:-warn} >"$tmp/server.out" 2>>"$tmp/server.err" &
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
	say "ccload ${*/$password/...} (contactd pid $server_pid on $addr, $label)"
	if ! "$tmp/ccload" -addr "$addr" -server-pid "$server_pid" -label "$label" "$@" >>"$OUT"; then
		say "ccload failed"
		failed=1
	fi
}

# chat_runs LABEL DATADIR DATABASE_URL RUNS...
chat_runs() {
	local label=$1 data=$2 db=$3
	shift 3
	for run in "$@"; do
		IFS=: read -r v c ramp <<<"$run"
		"$tmp/ccload" -write-config -agents "$max_agents" -capacity "$c" -agent-password "$password" >"$tmp/load.yaml"
		start_server "$tmp/load.yaml" "$data" "$db"
		ccload_run "$label" -mode chat -clients "$v" -capacity "$c" -ramp "${ramp:-10s}" -duration "$WINDOW" -agent-password "$password"
		stop_server
	done
}

: >"$OUT"
# shellcheck disable=SC2086 # the lists split on spaces
chat_runs sqlite "$tmp/data" "" $CHAT

if [[ -n $IDLE ]]; then
	IFS=: read -r n ramp <<<"$IDLE"
	"$tmp/ccload" -write-config -agents 1 -agent-password "$password" >"$tmp/idle.yaml"
	start_server "$tmp/idle.yaml" "$tmp/idle-data" ""
	ccload_run sqlite -mode idle -clients "$n" -ramp "${ramp:-40s}" -duration "$IDLE_WINDOW"
	stop_server
fi

if [[ -n $VOICE ]]; then
	voice_agents=1
	for run in $VOICE; do
		IFS=: read -r n _ _ <<<"$run"
		a=$(voice_agents_for "$n")
		(( a > voice_agents )) && voice_agents=$a
	done
	# Agents have one call each; media_addr is a free loopback port.
	"$tmp/ccload" -write-config -agents "$voice_agents" -capacity 1 -agent-password "$password" >"$tmp/voice.yaml"
	for run in $VOICE; do
		IFS=: read -r n rate window <<<"$run"
		start_server "$tmp/voice.yaml" "$tmp/voice-data" ""
		ccload_run sqlite -mode voice -clients "$n" -rate-calls "${rate:-10}" -duration "${window:-20s}" -agent-password "$password"
		stop_server
	done
fi

if [[ -n $PG ]]; then
	if ! command -v psql >/dev/null; then
		say "LOADTEST_POSTGRES is set but psql is missing: no PostgreSQL run"
	else
		pg_db="ccload_$$_$RANDOM"
		psql -q "$PG/postgres" -c "CREATE DATABASE $pg_db" >/dev/null
		read -r first _ <<<"$PG_CHAT"
		chat_runs postgres "$tmp/pg-data" "$PG/$pg_db?sslmode=disable" "$first"
		psql -q "$PG/postgres" -c "DROP DATABASE $pg_db WITH (FORCE)" >/dev/null
		pg_db=""
	fi
fi

if [[ -n $DOC ]]; then
	"$tmp/ccload" -report "$OUT" -out "$DOC" -note "$NOTE"
	say "figures written to $DOC (JSON lines in $OUT)"
fi
exit $failed
