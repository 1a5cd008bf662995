#!/usr/bin/env python3
"""Compare polecam's top-N with Faiss on the same vectors, in one run.

Reads the vectors a fixture exported (polecam bench fixture --export DIR:
items.npy, users.npy), measures Faiss

  * IndexFlatIP exact single-query top-N on 1 thread (median over queries),
  * IndexHNSWFlat(M, METRIC_INNER_PRODUCT, efConstruction) build time (all
    threads) and single-query, 1-thread queries per second at the smallest
    efSearch reaching the target recall@N against the exact top N,

then runs ours (benchmarks/cmd/peerbench on the fixture's snapshot, which
does the same with recommender.Model and recommender/ann), and prints both
with the ratios against the targets of issue 5:

  exact time ours/Faiss <= 0.25, ANN QPS ours/Faiss >= 1.0,
  ANN build time ours/Faiss <= 1.5.

When faiss (Debian: apt-get install python3-faiss python3-numpy) cannot be
imported it says so, still runs ours, and exits 0.

Usage: faiss_compare.py --export DIR --data-dir DIR --ours PEERBENCH [--queries 1000] [--json OUT]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

TARGET_EXACT = 0.25
TARGET_ANN_QPS = 1.0
TARGET_ANN_BUILD = 1.5
EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]


def run_faiss(args):
    import faiss
    import numpy as np

    all_threads = faiss.omp_get_max_threads()  # before anything sets it to 1
    items = np.load(f"{args.export}/items.npy")
    users = np.load(f"{args.export}/users.npy")
    queries = np.ascontiguousarray(users[: args.queries])
    nq, d = queries.shape
    n = args.n
    out = {"version": faiss.__version__, "items": items.shape[0], "dims": d, "queries": nq}

    flat = faiss.IndexFlatIP(d)
    flat.add(items)
    _, truth = flat.search(queries, n)  # ground truth, all threads

    faiss.omp_set_num_threads(1)
    for i in range(nq):  # one untimed pass, as for ours
        flat.search(queries[i : i + 1], n)
    times = []
    for i in range(nq):
        q = queries[i : i + 1]
        t = time.perf_counter()
        flat.search(q, n)
        times.append(time.perf_counter() - t)
    out["exact_median_ms"] = statistics.median(times) * 1e3

    faiss.omp_set_num_threads(args.build_threads or all_threads)
    out["ann_build_threads"] = faiss.omp_get_max_threads()
    hnsw = faiss.IndexHNSWFlat(d, args.m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = args.ef_construction
    t = time.perf_counter()
    hnsw.add(items)
    out["ann_build_seconds"] = time.perf_counter() - t

    faiss.omp_set_num_threads(1)
    sweep = []
    out["ann_at_recall"] = None
    for ef in EFS:
        hnsw.hnsw.efSearch = ef
        for i in range(nq):  # one untimed pass, as for ours
            hnsw.search(queries[i : i + 1], n)
        times = []
        hits = 0
        start = time.perf_counter()
        for i in range(nq):
            q = queries[i : i + 1]
            t = time.perf_counter()
            _, got = hnsw.search(q, n)
            times.append(time.perf_counter() - t)
            hits += len(set(got[0].tolist()) & set(truth[i].tolist()))
        total = time.perf_counter() - start
        times.sort()
        p = {"ef": ef, "recall": hits / (nq * n), "qps": nq / total, "median_us": times[len(times) // 2] * 1e6,
             "p99_us": times[min(len(times) - 1, int(0.99 * len(times)))] * 1e6}
        sweep.append(p)
        if p["recall"] >= args.recall:
            out["ann_at_recall"] = p
            break
    out["ann_sweep"] = sweep
    return out


def run_ours(args):
    cmd = [args.ours, "--data-dir", args.data_dir, "--queries", str(args.queries), "--n", str(args.n),
           "--recall", str(args.recall), "--m", str(args.m), "--ef-construction", str(args.ef_construction)]
    if args.skip_ann:
        cmd.append("--skip-ann")
    res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(res.stdout)


def ratio_line(name, ours, theirs, target, higher_is_better):
    if ours is None or theirs is None or theirs == 0:
        return f"{name:<28} {'-':>10}   (target {'>=' if higher_is_better else '<='} {target})"
    r = ours / theirs
    ok = r >= target if higher_is_better else r <= target
    return f"{name:<28} {r:>10.3f}   (target {'>=' if higher_is_better else '<='} {target}: {'met' if ok else 'NOT met'})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", required=True, help="directory with items.npy and users.npy")
    ap.add_argument("--data-dir", required=True, help="data directory with the same fixture's snapshot")
    ap.add_argument("--ours", required=True, help="path to the peerbench binary")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--recall", type=float, default=0.95)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--build-threads", type=int, default=0, help="Faiss build threads (0: all)")
    ap.add_argument("--skip-ann", action="store_true", help="compare the exact scan only")
    ap.add_argument("--json", help="also write both reports to this file")
    args = ap.parse_args()

    try:
        import faiss  # noqa: F401
        import numpy  # noqa: F401
        have_faiss = True
    except ImportError as e:
        have_faiss = False
        print(f"SKIP faiss: cannot import it ({e}); install it with "
              f"'apt-get install -y python3-faiss python3-numpy' (and run with /usr/bin/python3). "
              f"Measuring ours only.", file=sys.stderr)

    theirs = run_faiss(args) if have_faiss else None
    if theirs is not None and args.skip_ann:
        theirs["ann_at_recall"] = None
    ours = run_ours(args)

    def get(rep, *path):
        for k in path:
            if rep is None:
                return None
            rep = rep.get(k)
        return rep

    print(f"vectors: {ours['items']} items x {ours['dims']} dims, {min(args.queries, ours['items'])} queries, top-{args.n}; "
          f"our kernel {ours['kernel']}" + (f"; faiss {theirs['version']}" if theirs else ""))
    rows = [
        ("exact top-N median ms (1 thread)", get(ours, "exact_median_ms"), get(theirs, "exact_median_ms")),
        ("  of which bare scan + top-N ms", get(ours, "scan_median_ms"), None),
        ("ANN build s", get(ours, "ann_build_seconds"), get(theirs, "ann_build_seconds")),
        ("ANN ef at recall", get(ours, "ann_at_recall", "ef"), get(theirs, "ann_at_recall", "ef")),
        ("ANN recall", get(ours, "ann_at_recall", "recall"), get(theirs, "ann_at_recall", "recall")),
        ("ANN QPS (1 thread)", get(ours, "ann_at_recall", "qps"), get(theirs, "ann_at_recall", "qps")),
        ("ANN median us", get(ours, "ann_at_recall", "median_us"), get(theirs, "ann_at_recall", "median_us")),
        ("ANN p99 us", get(ours, "ann_at_recall", "p99_us"), get(theirs, "ann_at_recall", "p99_us")),
    ]
    fmt = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
    print(f"{'':<34} {'ours':>10} {'faiss':>10}")
    for name, a, b in rows:
        print(f"{name:<34} {fmt(a):>10} {fmt(b):>10}")
    if ours.get("ann_sweep") and not ours.get("ann_at_recall"):
        print(f"ours: no ef reached recall {args.recall}: {ours['ann_sweep']}")
    if theirs and theirs.get("ann_sweep") and not theirs.get("ann_at_recall"):
        print(f"faiss: no ef reached recall {args.recall}: {theirs['ann_sweep']}")
    if theirs:
        print("ratios ours/faiss:")
        print(ratio_line("exact time", get(ours, "exact_median_ms"), get(theirs, "exact_median_ms"), TARGET_EXACT, False))
        print(ratio_line("ANN QPS at recall", get(ours, "ann_at_recall", "qps"), get(theirs, "ann_at_recall", "qps"), TARGET_ANN_QPS, True))
        print(ratio_line("ANN build time", get(ours, "ann_build_seconds"), get(theirs, "ann_build_seconds"), TARGET_ANN_BUILD, False))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": ours, "faiss": theirs, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
