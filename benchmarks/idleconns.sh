#!/usr/bin/env bash
# Idle-connection memory (issue 10, item 8): the resident set size of a
# polecam server before 2,000 idle gRPC connections, with them open, and
# after they close, over loopback.
#
#   benchmarks/idleconns.sh [--conns 2000] [--port 50171] [--settle 20s]
#   POLECAM_BIN=path/to/polecam benchmarks/idleconns.sh   # measure another build
#
# It trains a small snapshot, starts `polecam serve` on it, runs
# benchmarks/cmd/idleconns against it and stops the server. Results go to
# benchmarks/out/idleconns-<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."

conns=2000 port=50171 settle=20s
while [ $# -gt 0 ]; do
	case "$1" in
	--conns) conns=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--settle) settle=$2; shift 2 ;;
	*) echo "usage: $0 [--conns N] [--port P] [--settle D]" >&2; exit 2 ;;
	esac
done

out=benchmarks/out/idleconns-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" benchmarks/out/bin
bin=${POLECAM_BIN:-benchmarks/out/bin/polecam}
if [ -z "${POLECAM_BIN:-}" ]; then
	go build -o "$bin" ./cmd/polecam
fi
go build -o benchmarks/out/bin/idleconns ./benchmarks/cmd/idleconns

data=$out/data
"$bin" gen --out "$out/events.csv" --users 2000 --items 1000 --events 40000 --seed 1 >/dev/null
"$bin" train --log-level warn --data-dir "$data" --events "$out/events.csv" --factors 32 --iterations 5 --no-gate --tune-budget 0 >/dev/null

addr=127.0.0.1:$port
"$bin" serve --data-dir "$data" --addr "$addr" --metrics-addr "" --log-format json 2>"$out/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grep -q '"msg":"serving gRPC"' "$out/server.log" && break
	sleep 0.1
done
sleep 2 # let the first load's pages settle

{
	echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "# avx flags: $(grep -m1 -o -w 'avx[0-9a-z_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
	echo "# load: $(cut -d' ' -f1-3 /proc/loadavg); binary: $bin ($("$bin" --version))"
	echo "# command: benchmarks/idleconns.sh --conns $conns --settle $settle"
} | tee "$out/idleconns.txt"
benchmarks/out/bin/idleconns --addr "$addr" --pid "$server" --conns "$conns" --settle "$settle" | tee -a "$out/idleconns.txt"
echo "results in $out"
