#!/usr/bin/env bash
# End-to-end serving benchmark against the issue 5 targets: 100k items x 64
# factors, Recommend n=10,
#   (a) one sequential client (closed loop, 1 in flight): p99 <= 1 ms;
#   (b) 64 requests in flight on one connection: >= 8,000 QPS.
# Builds polecam, writes a fixture, serves it on a loopback port, waits for
# health SERVING, runs both loads for a bounded time, stops the server.
#
#   benchmarks/serving.sh [--items 100000] [--factors 64] [--duration 20s] [--warmup 3s] [--port 50151]
#   POLECAM_BIN=path/to/polecam benchmarks/serving.sh    # measure a prebuilt binary
#
# Results: benchmarks/out/serving-<date>/{sequential,inflight64}.{json,png},
# compare.txt and server.log.
set -euo pipefail
cd "$(dirname "$0")/.."

items=100000 factors=64 duration=20s warmup=3s port=50151
while [ $# -gt 0 ]; do
	case "$1" in
	--items) items=$2; shift 2 ;;
	--factors) factors=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	*) echo "usage: $0 [--items N] [--factors D] [--duration D] [--warmup D] [--port P]" >&2; exit 2 ;;
	esac
done

out=benchmarks/out/serving-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" benchmarks/out/bin
# POLECAM_BIN names a prebuilt binary to measure instead of building one.
bin=${POLECAM_BIN:-benchmarks/out/bin/polecam}
if [ -z "${POLECAM_BIN:-}" ]; then
	go build -o "$bin" ./cmd/polecam
fi

data=benchmarks/out/serving-data-${items}x${factors}
rm -rf "$data" # written afresh each run: it is deterministic
"$bin" bench fixture --data-dir "$data" --items "$items" --users "$items" --factors "$factors" --seed 1

addr=127.0.0.1:$port
"$bin" serve --log-level warn --data-dir "$data" --addr "$addr" --metrics-addr "" >"$out/server.log" 2>&1 &
server=$!
stop() {
	if kill -0 "$server" 2>/dev/null; then
		kill -TERM "$server"
		wait "$server" || true
	fi
}
trap stop EXIT

echo "# $(date -u +%FT%TZ) $(uname -n) load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/compare.txt"
common=(--addr "$addr" --data-dir "$data" --similar 0 --unknown 0 --n 10 --warmup "$warmup" --duration "$duration" --wait 60s)
"$bin" bench load "${common[@]}" --concurrency 1 --connections 1 --label "sequential" \
	--json "$out/sequential.json" --png "$out/sequential.png"
"$bin" bench load "${common[@]}" --concurrency 64 --connections 1 --label "64 in flight, 1 conn" \
	--json "$out/inflight64.json" --png "$out/inflight64.png"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/compare.txt"
"$bin" bench compare "$out/sequential.json" "$out/inflight64.json" --png "$out/both.png" | tee -a "$out/compare.txt"
stop
trap - EXIT

python3 - "$out/sequential.json" "$out/inflight64.json" <<'PY' | tee -a "$out/compare.txt"
import json, sys
seq, par = (json.load(open(p)) for p in sys.argv[1:3])
p99 = seq["latency"]["p99_ms"]
qps = par["qps"]
print(f"target (a) sequential p99 <= 1 ms: {p99:.3f} ms -> {'met' if p99 <= 1 else 'NOT met'}")
print(f"target (b) 64 in flight >= 8000 QPS: {qps:.0f} -> {'met' if qps >= 8000 else 'NOT met'}")
PY
echo "results in $out" >&2
