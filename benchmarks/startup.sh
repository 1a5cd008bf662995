#!/usr/bin/env bash
# Start-up benchmark (issue 4): how long a server takes from exec to
# SERVING on a published model of N items x D factors, with the checksum
# verification and page warming the watcher does before it serves.
#
#   benchmarks/startup.sh [--items 1000000] [--users 100000] [--factors 64] [--runs 5] [--port 50161]
#   POLECAM_BIN=path/to/polecam benchmarks/startup.sh
#
# It writes the fixture once, then starts `polecam serve` --runs times and
# reads, from the server's JSON log, when the model was loaded and health
# turned SERVING, and prints that time from exec. Results go to
# benchmarks/out/startup-<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."

items=1000000 users=100000 factors=64 runs=5 port=50161
while [ $# -gt 0 ]; do
	case "$1" in
	--items) items=$2; shift 2 ;;
	--users) users=$2; shift 2 ;;
	--factors) factors=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	*) echo "usage: $0 [--items N] [--users N] [--factors D] [--runs R] [--port P]" >&2; exit 2 ;;
	esac
done

out=benchmarks/out/startup-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" benchmarks/out/bin
bin=${POLECAM_BIN:-benchmarks/out/bin/polecam}
if [ -z "${POLECAM_BIN:-}" ]; then
	go build -o "$bin" ./cmd/polecam
fi
data=benchmarks/out/startup-data-${items}x${factors}
if [ ! -f "$data/PUBLISHED" ]; then
	"$bin" bench fixture --data-dir "$data" --items "$items" --users "$users" --factors "$factors" --seed 1
fi

addr=127.0.0.1:$port
echo "# $(date -u +%FT%TZ) $(uname -n) ${items} items x ${factors} factors; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/startup.txt"
for r in $(seq 1 "$runs"); do
	start=$(date +%s.%N)
	"$bin" serve --log-format json --data-dir "$data" --addr "$addr" --metrics-addr "" >"$out/server-$r.log" 2>&1 &
	server=$!
	# Health turns SERVING in the same step that logs "loaded snapshot".
	for _ in $(seq 1 600); do
		grep -q '"msg":"loaded snapshot"' "$out/server-$r.log" && break
		sleep 0.1
	done
	kill -TERM "$server"
	wait "$server" || true
	line=$(grep -m1 '"msg":"loaded snapshot"' "$out/server-$r.log") || { echo "run $r: no model loaded; see $out/server-$r.log" >&2; exit 1; }
	at=$(date -d "$(echo "$line" | sed -E 's/.*"time":"([^"]+)".*/\1/')" +%s.%N)
	elapsed_ns=$(echo "$line" | sed -E 's/.*"elapsed":([0-9]+).*/\1/')
	printf 'run %d: SERVING %.0f ms after exec; open+verify+warm+swap %.0f ms\n' \
		"$r" "$(echo "($at - $start) * 1000" | bc)" "$(echo "$elapsed_ns / 1000000" | bc -l)" | tee -a "$out/startup.txt"
done
