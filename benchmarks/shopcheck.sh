#!/usr/bin/env bash
# Issue 11's check on a shop log, time split: the default `polecam train`
# recipe (tuned within the default budget, as train does) against a
# closed-form EASE alone whose λ is chosen on validation (plain EASE: no
# DLAE term, blend 0, the all-time popularity list and no recency weight,
# only λ searched), and against popularity, all on the
# same test part (the interactions first made in the last --holdout-days)
# and each choice made on the span before it, never on the test part.
#
#   benchmarks/shopcheck.sh LOG [--holdout-days 1] [--budget 10m] [-- EXTRA EVAL FLAGS]
#
# Prints one JSON line per run (default, ease, then the table) and lscpu.
# EASE is exact up to --ease-max-items (10,000) items and sparse EASE
# (each item regressed on its --ease-neighbors most similar items) beyond.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { echo "usage: $0 LOG [--holdout-days D] [--budget B] [-- EVAL FLAGS]" >&2; exit 2; }
log=$1; shift
days=1 budget=10m extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--holdout-days) days=$2; shift 2 ;;
	--budget) budget=$2; shift 2 ;;
	--) shift; extra=("$@"); break ;;
	*) echo "unknown flag $1" >&2; exit 2 ;;
	esac
done
mkdir -p benchmarks/out/bin
go build -o benchmarks/out/bin/polecam ./cmd/polecam
bin=benchmarks/out/bin/polecam
lscpu | grep -E '^(Model name|CPU\(s\))' | sed 's/  */ /g'
echo "avx flags: $(grep -o -w -E 'avx[0-9a-z_]*|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
common=(eval --events "$log" --split time --holdout-days "$days" --k 10 --json --log-level warn "${extra[@]}")
def=$("$bin" "${common[@]}" --tune-budget "$budget")
echo "$def"
ease=$("$bin" "${common[@]}" --tune-budget "$budget" --item-model ease --blend 0 --ease-diagonal-scale 0 \
	--popularity-half-life 0 --recency-weight 0 || true)
echo "$ease"
python3 - "$def" "$ease" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
e = json.loads(sys.argv[2]) if sys.argv[2].strip() else None
pop = d["popularity"]["ndcg"]
print(f"| recipe | test nDCG@10 | test P@10 | / popularity |")
print(f"| --- | --- | --- | --- |")
ch = d.get("tuned", {}).get("result", {}).get("chosen", {})
rc = ch.get("recency", {})
print(f"| default train recipe ({'rp3' if ch.get('rp3') else 'ease' if ch.get('ease') else 'factors'}, blend {ch.get('blend')}, popularity half-life {rc.get('half_life_hours', 0)} h, recency weight {rc.get('weight', 0)}) | {d['ndcg']:.4f} | {d['precision']:.4f} | {d['ndcg']/pop:.2f}x |")
if e:
    lam = e.get("tuned", {}).get("result", {}).get("chosen", {}).get("ease", {}).get("lambda")
    print(f"| EASE alone, λ {lam:.4g} chosen on validation | {e['ndcg']:.4f} | {e['precision']:.4f} | {e['ndcg']/pop:.2f}x |")
    print(f"default / EASE: {d['ndcg']/e['ndcg']:.3f}")
print(f"| popularity | {pop:.4f} | {d['popularity']['precision']:.4f} | 1 |")
PY
