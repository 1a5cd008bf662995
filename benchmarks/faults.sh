#!/usr/bin/env bash
# Fault-injection loop for the operations issue (#10): while `polecam bench
# load` drives server A on a loopback port, a seeded random sequence of
# faults hits the same data directory:
#
#   kill9-server   kill -9 server B (same data dir), restart it, time until SERVING
#   kill9-train    start a train, kill -9 it at a random moment (0-3 s)
#   corrupt        flip a byte in the published version's items.vec
#   concurrent     two trains at once (they take turns on TRAIN.LOCK)
#   train          one train (publishes if the gate lets it through)
#   rollback       polecam rollback (refuses corrupt versions)
#   retain         polecam retain --keep 2 (never the published, previous or newer)
#
# After every fault it checks that PUBLISHED names a version directory
# (else a version was lost). At the end it reports the requests failed on
# A (never killed: every failure is a fault reaching the clients), the
# versions lost, and for B how often it was not SERVING within 30 s of a
# restart and how long it took (a kill -9 of a lone server is downtime by
# construction; what matters is that it comes back, also while the
# published version is corrupt). Bounded by --duration; loopback only.
# Not injected: a full disk (needs a small file system of its own).
#
#   benchmarks/faults.sh [--duration 120] [--seed 1] [--port 50171]
#   POLECAM_BIN=path/to/polecam benchmarks/faults.sh
#
# Results: benchmarks/out/faults-<date>/{report.txt,load.json,faults.log,server-*.log}.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=120 seed=1 port=50171
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	*) echo "usage: $0 [--duration SECONDS] [--seed N] [--port P]" >&2; exit 2 ;;
	esac
done
portb=$((port + 1))

out=benchmarks/out/faults-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" benchmarks/out/bin
bin=${POLECAM_BIN:-benchmarks/out/bin/polecam}
if [ -z "${POLECAM_BIN:-}" ]; then
	go build -o "$bin" ./cmd/polecam
fi
data=$out/data
log=$out/faults.log
RANDOM=$seed

say() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$log"; }

"$bin" gen --out "$out/events.csv" --users 2000 --items 500 --events 40000 --seed "$seed" >/dev/null
train_args=(train --log-level warn --data-dir "$data" --events "$out/events.csv" --factors 8 --iterations 3 --tune-budget 0 --force)
"$bin" "${train_args[@]}" >>"$log" 2>&1

pids=()
cleanup() {
	for p in "${pids[@]}" ${pidb:-}; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

serve() { # serve NAME PORT: metrics on PORT+10
	"$bin" serve --data-dir "$data" --addr "127.0.0.1:$2" --metrics-addr "127.0.0.1:$(($2 + 10))" \
		--poll-interval 250ms --log-format json >>"$out/server-$1.log" 2>&1 &
	echo $!
}
pida=$(serve a "$port")
pids+=("$pida")
pidb=$(serve b "$portb")

# The load runs for the whole loop, Recommend only (the fixture's item ids
# are not the log's; unknown users get the popular items).
"$bin" bench load --addr "127.0.0.1:$port" --duration "${duration}s" --warmup 0s --similar 0 \
	--concurrency 4 --connections 1 --timeout 2s --wait 30s --json "$out/load.json" >"$out/load.txt" 2>&1 &
loadpid=$!
pids+=("$loadpid")

lost=0 kills=0 restart_total=0 restart_max=0 not_serving=0
declare -A count=()
faults=(kill9-server kill9-train corrupt concurrent train rollback retain)

check_published() {
	local v
	v=$(cat "$data/PUBLISHED" 2>/dev/null | tr -d '\n')
	if [ -z "$v" ] || [ ! -d "$data/versions/$v" ]; then
		lost=$((lost + 1))
		say "LOST: PUBLISHED names '$v', which is not a version directory"
	fi
}

# wait_serving PORT: seconds until a 1 s probe load on PORT succeeds (max 30).
wait_serving() {
	local start=$SECONDS
	if "$bin" bench load --addr "127.0.0.1:$1" --duration 1s --warmup 0s --similar 0 --concurrency 1 \
		--connections 1 --wait 30s --json "$out/probe.json" >/dev/null 2>&1 &&
		[ "$(jq '.errors // {} | add // 0' "$out/probe.json")" = 0 ]; then
		echo $((SECONDS - start))
	else
		echo -1
	fi
}

end=$((SECONDS + duration - 5))
while [ $SECONDS -lt $end ]; do
	f=${faults[$((RANDOM % ${#faults[@]}))]}
	count[$f]=$((${count[$f]:-0} + 1))
	case $f in
	kill9-server)
		kill -9 "$pidb" 2>/dev/null || true
		while kill -0 "$pidb" 2>/dev/null; do sleep 0.05; done # not our child: poll until gone
		pidb=$(serve b "$portb")
		kills=$((kills + 1))
		s=$(wait_serving "$portb")
		if [ "$s" -lt 0 ]; then
			not_serving=$((not_serving + 1))
			say "kill9-server: B not SERVING 30 s after restart"
		else
			restart_total=$((restart_total + s))
			[ "$s" -gt "$restart_max" ] && restart_max=$s
			say "kill9-server: B SERVING again after ~${s}s (probe included)"
		fi
		;;
	kill9-train)
		"$bin" "${train_args[@]}" >>"$log" 2>&1 &
		tp=$!
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
		sleep $((RANDOM % 3))
		kill -9 "$tp" 2>/dev/null || true
		wait "$tp" 2>/dev/null || true
		say "kill9-train: killed; staging holds $(ls "$data/staging" | wc -l) entries"
		;;
	corrupt)
		v=$(tr -d '\n' <"$data/PUBLISHED")
		file=$data/versions/$v/items.vec
		if [ -f "$file" ]; then
			off=$((64 + RANDOM % 64))
			b=$(od -An -tu1 -j "$off" -N1 "$file" | tr -d ' ')
			printf "$(printf '\\%03o' $(((b + 1) % 256)))" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
			say "corrupt: flipped byte $off of $v/items.vec"
		fi
		;;
	concurrent)
		"$bin" "${train_args[@]}" >>"$log" 2>&1 &
		t1=$!
		"$bin" "${train_args[@]}" >>"$log" 2>&1 &
		t2=$!
		rc1=0 rc2=0
		wait "$t1" || rc1=$?
		wait "$t2" || rc2=$?
		say "concurrent: exit codes $rc1 $rc2"
		;;
	train)
		rc=0
		"$bin" "${train_args[@]}" >>"$log" 2>&1 || rc=$?
		say "train: exit code $rc"
		;;
	rollback)
		rc=0
		"$bin" rollback --log-level warn --data-dir "$data" >>"$log" 2>&1 || rc=$?
		say "rollback: exit code $rc"
		;;
	retain)
		"$bin" retain --log-level warn --data-dir "$data" --keep 2 >>"$log" 2>&1 || true
		say "retain: $(ls "$data/versions" | wc -l) versions left"
		;;
	esac
	check_published
done

wait "$loadpid" || true
req=$(jq .requests "$out/load.json")
failed=$(jq '.errors // {} | add // 0' "$out/load.json")
{
	echo "faults.sh --duration $duration --seed $seed ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'); avx: $(grep -o -w 'avx[0-9a-z_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
	echo "faults: $(for k in "${!count[@]}"; do printf '%s=%s ' "$k" "${count[$k]}"; done)"
	echo "server A (load target, never killed): $req requests, $failed failed ($(jq -c '.errors // {}' "$out/load.json"))"
	echo "versions lost (PUBLISHED naming no version directory, checked after every fault): $lost"
	echo "server B kill -9: $kills, not SERVING within 30 s after restart: $not_serving, seconds to SERVING incl. 1 s probe: max $restart_max, total $restart_total"
	echo "staging leftovers at the end: $(ls "$data/staging" | wc -l); versions: $(ls "$data/versions" | wc -l)"
	echo "degraded warnings logged by A/B: $(grep -c 'degraded:' "$out/server-a.log" "$out/server-b.log" | tr '\n' ' ')"
} | tee "$out/report.txt"
