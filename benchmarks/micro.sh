#!/usr/bin/env bash
# Run the scoring-kernel and top-N micro-benchmarks as size sweeps (catalogue
# 10k/100k/1M x factors 32/64/128 for the kernels; catalogue x n for top-N;
# catalogue x factors for Recommend, float and int8 scans, one and two cores;
# the ANN search) with -count repetitions, and summarise them with benchstat.
# The sweeps themselves are defined next to the code they measure.
#
#   benchmarks/micro.sh [-count 10] [-benchtime 1s] [-bench REGEXP] [-old FILE]
#
# Writes benchmarks/out/micro-<date>.txt (raw go test output) and
# benchmarks/out/micro-<date>.benchstat.txt; with -old FILE, benchstat
# compares FILE (an earlier raw output) against this run. benchstat:
#   go install golang.org/x/perf/cmd/benchstat@latest
set -euo pipefail
cd "$(dirname "$0")/.."

count=10 benchtime=1s filter='' old=''
while [ $# -gt 0 ]; do
	case "$1" in
	-count) count=$2; shift 2 ;;
	-benchtime) benchtime=$2; shift 2 ;;
	-bench) filter=$2; shift 2 ;;
	-old) old=$2; shift 2 ;;
	*) echo "usage: $0 [-count N] [-benchtime D] [-bench REGEXP] [-old FILE]" >&2; exit 2 ;;
	esac
done

benchstat=$(command -v benchstat || echo "$(go env GOPATH)/bin/benchstat")
if [ ! -x "$benchstat" ]; then
	echo "installing benchstat" >&2
	go install golang.org/x/perf/cmd/benchstat@latest
fi

mkdir -p benchmarks/out
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw=benchmarks/out/micro-$stamp.txt
{
	echo "# $(date -u +%FT%TZ) $(uname -srm) $(go version)"
	echo "# load before: $(cat /proc/loadavg 2>/dev/null || uptime)"
	grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/^/# /' || true
} >"$raw"

# package:benchmark regexp. Each is a size sweep defined next to the code.
runs=(
	"./recommender/dot:^BenchmarkScores$"
	"./recommender/dot:^BenchmarkScoresInt8$"
	"./recommender:^BenchmarkTopN$"
	"./recommender:^BenchmarkRecommendScan$"
	"./recommender:^BenchmarkRecommend$"
	"./recommender:^BenchmarkRecommendParallel$"
	"./recommender/ann:^BenchmarkSearch$"
)
for r in "${runs[@]}"; do
	pkg=${r%%:*} re=${r#*:}
	if [ -n "$filter" ] && ! [[ "$re" =~ $filter ]]; then
		continue
	fi
	echo "== $pkg $re (count $count, benchtime $benchtime)" >&2
	go test -run '^$' -bench "$re" -benchmem -count "$count" -benchtime "$benchtime" -timeout 60m "$pkg" | tee -a "$raw" >&2
done
echo "# load after: $(cat /proc/loadavg 2>/dev/null || uptime)" >>"$raw"

stat=benchmarks/out/micro-$stamp.benchstat.txt
if [ -n "$old" ]; then
	"$benchstat" "$old" "$raw" | tee "$stat"
else
	"$benchstat" "$raw" | tee "$stat"
fi
echo "raw: $raw" >&2
echo "benchstat: $stat" >&2
