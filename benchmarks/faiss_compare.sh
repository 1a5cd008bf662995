#!/usr/bin/env bash
# Compare polecam's exact and ANN top-10 with Faiss on the same 100k x 64
# clustered vectors, in one run. Writes everything under benchmarks/out/peer/.
#
#   benchmarks/faiss_compare.sh [--items 100000] [--factors 64] [--queries 1000] [--skip-ann]
#
# Needs Faiss for the peer half (Debian: apt-get install -y python3-faiss
# python3-numpy); without it only ours is measured, with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

items=100000 factors=64 queries=1000 extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--items) items=$2; shift 2 ;;
	--factors) factors=$2; shift 2 ;;
	--queries) queries=$2; shift 2 ;;
	--skip-ann) extra+=(--skip-ann); shift ;;
	*) echo "usage: $0 [--items N] [--factors D] [--queries Q] [--skip-ann]" >&2; exit 2 ;;
	esac
done

out=benchmarks/out/peer
mkdir -p "$out/bin"
# POLECAM_BIN names a prebuilt polecam binary (for the fixture) instead of building one.
polecam=${POLECAM_BIN:-$out/bin/polecam}
if [ -z "${POLECAM_BIN:-}" ]; then
	go build -o "$polecam" ./cmd/polecam
fi
go build -o "$out/bin/peerbench" ./benchmarks/cmd/peerbench

data="$out/data-${items}x${factors}"
# Written afresh each run (it is deterministic), so a changed fixture
# generator is never compared on stale vectors.
rm -rf "$data" "$out/export-${items}x${factors}"
"$polecam" bench fixture --data-dir "$data" --items "$items" --users "$items" \
	--factors "$factors" --seed 1 --export "$out/export-${items}x${factors}"

# Debian's python3-faiss installs into the system python; a pyenv or venv
# python3 earlier on PATH does not see it.
py=python3
if ! python3 -c 'import faiss, numpy' 2>/dev/null && /usr/bin/python3 -c 'import faiss, numpy' 2>/dev/null; then
	py=/usr/bin/python3
fi
echo "# $(date -u +%FT%TZ) $(uname -n) load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" benchmarks/faiss_compare.py --export "$out/export-${items}x${factors}" --data-dir "$data" \
	--ours "$out/bin/peerbench" --queries "$queries" --json "$out/compare-${items}x${factors}.json" "${extra[@]}"
