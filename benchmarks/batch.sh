#!/usr/bin/env bash
# BatchRecommend against unary Recommend (issue 9): one server on a
# 100k-item × 64-factor fixture with 100k users, the same users answered
# by unary calls and by BatchRecommend streams at the same concurrency,
# and the server's resident memory before, during and after.
#
#   benchmarks/batch.sh [--items 100000] [--users 100000] [--concurrency 8] [--port 50181]
#
# Results go to benchmarks/out/batch-<date>/ (result.json, lscpu.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

items=100000 users=100000 conc=8 port=50181
while [ $# -gt 0 ]; do
	case "$1" in
	--items) items=$2; shift 2 ;;
	--users) users=$2; shift 2 ;;
	--concurrency) conc=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	*) echo "usage: $0 [--items N] [--users N] [--concurrency C] [--port P]" >&2; exit 2 ;;
	esac
done

out=benchmarks/out/batch-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" benchmarks/out/bin
go build -o benchmarks/out/bin/polecam ./cmd/polecam
go build -o benchmarks/out/bin/batchbench ./benchmarks/cmd/batchbench
lscpu >"$out/lscpu.txt"
uptime >"$out/uptime-start.txt"

data=$out/data
benchmarks/out/bin/polecam bench fixture --data-dir "$data" --items "$items" --users "$users" --factors 64 --seed 1 --int8 >/dev/null
addr=127.0.0.1:$port
benchmarks/out/bin/polecam serve --data-dir "$data" --addr "$addr" --metrics-addr "" --log-level warn 2>"$out/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grpc_ok=$(benchmarks/out/bin/batchbench --addr "$addr" --users 1 --concurrency 1 2>/dev/null | grep -c '"errors": 0' || true)
	[ "$grpc_ok" = 1 ] && break
	sleep 0.2
done
benchmarks/out/bin/batchbench --addr "$addr" --pid "$server" --users "$users" --concurrency "$conc" --json "$out/result.json"
uptime >"$out/uptime-end.txt"
echo "results in $out"
