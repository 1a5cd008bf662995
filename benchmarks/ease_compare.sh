#!/usr/bin/env bash
# EASE's dense solve, polecam against numpy + OpenBLAS, side by side in one
# run on the same machine: polecam's BenchmarkTrainEASE/items=N (Gram
# matrix from the sparse histories, in-place SPD inverse, B) and numpy's
# X^T X and numpy.linalg.inv of the same size on a log generated with the
# same synth options. Prints both, the ratio, lscpu model and flags.
#
#   benchmarks/ease_compare.sh [--items 5000] [--rounds 2]
#
# Needs numpy (Debian: apt-get install -y python3-numpy libopenblas0-pthread).
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for numpy so that
# OpenBLAS picks its kernel for this CPU itself. Rounds alternate the two
# sides so that a change in the machine's load hits both.
set -euo pipefail
cd "$(dirname "$0")/.."

items=5000 rounds=2
while [ $# -gt 0 ]; do
	case "$1" in
	--items) items=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	*) echo "usage: $0 [--items N] [--rounds R]" >&2; exit 2 ;;
	esac
done

out=benchmarks/out/ease
mkdir -p "$out"
go build -o "$out/polecam" ./cmd/polecam
go test -c -o "$out/training.test" ./training
log="$out/events-$items.csv"
# The benchmark's matrix: synth users 5000, items N, events 200000, seed 3.
"$out/polecam" gen --out "$log" --users 5000 --items "$items" --events 200000 --seed 3 --log-level warn

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(go version)"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread)' | sed 's/  */ /g'
echo "avx flags: $(grep -o -w -E 'avx[0-9a-z_]*|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
py=/usr/bin/python3
for r in $(seq "$rounds"); do
	echo "## round $r"
	/usr/bin/time -f "polecam wall %e s, CPU %U+%S s" "$out/training.test" -test.run '^$' \
		-test.bench "BenchmarkTrainEASE/items=$items\$" -test.benchtime 1x 2>&1 | grep -E 'Benchmark|polecam wall'
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" benchmarks/ease_compare.py "$log" 566
done
