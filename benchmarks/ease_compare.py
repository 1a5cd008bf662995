"""numpy + OpenBLAS side of benchmarks/ease_compare.sh.

Reads a polecam CSV log, builds the binary users x items matrix X (as
polecam's EASE does: one per distinct (user, item) pair), then times, in
float64, the Gram matrix G = X^T X and the inverse of G + lambda*I with
numpy.linalg.inv (LAPACK getrf + getri through OpenBLAS), and prints which
BLAS numpy runs and its kernel.
"""
import csv
import ctypes
import sys
import time

import numpy as np


def blas_info():
    lines = []
    try:
        from threadpoolctl import threadpool_info
        for i in threadpool_info():
            lines.append("threadpoolctl: %s" % i)
    except ImportError:
        lines.append("threadpoolctl: not installed")
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if "blas" in l or "lapack" in l})
    lines.append("loaded: %s" % ", ".join(libs))
    for lib in libs:
        if "openblas" in lib and lib.endswith(".so.0") or "libopenblas" in lib:
            try:
                ob = ctypes.CDLL(lib)
                ob.openblas_get_config.restype = ctypes.c_char_p
                ob.openblas_get_corename.restype = ctypes.c_char_p
                lines.append("openblas config: %s; core: %s; threads: %d" % (
                    ob.openblas_get_config().decode(), ob.openblas_get_corename().decode(),
                    ob.openblas_get_num_threads()))
                break
            except (OSError, AttributeError):
                pass
    return lines


def main():
    path, lam = sys.argv[1], float(sys.argv[2])
    users, items, pairs = {}, {}, set()
    with open(path) as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            u = users.setdefault(row[1], len(users))
            i = items.setdefault(row[2], len(items))
            pairs.add((u, i))
    x = np.zeros((len(users), len(items)))
    for u, i in pairs:
        x[u, i] = 1
    print("numpy %s: %d users, %d items, %d pairs" % (np.__version__, len(users), len(items), len(pairs)))
    for l in blas_info():
        print(l)
    t = time.perf_counter()
    c = time.process_time()
    g = x.T @ x
    gram, gram_cpu = time.perf_counter() - t, time.process_time() - c
    g[np.diag_indices_from(g)] += lam
    t = time.perf_counter()
    c = time.process_time()
    p = np.linalg.inv(g)
    inv, inv_cpu = time.perf_counter() - t, time.process_time() - c
    assert np.isfinite(p).all()
    print("numpy gram %.2f s (%.2f CPU-s), inverse %.2f s (%.2f CPU-s), gram+inverse %.2f s (%.2f CPU-s)" % (
        gram, gram_cpu, inv, inv_cpu, gram + inv, gram_cpu + inv_cpu))
    print("RESULT numpy_seconds %.3f numpy_inverse_seconds %.3f" % (gram + inv, inv))


if __name__ == "__main__":
    main()
