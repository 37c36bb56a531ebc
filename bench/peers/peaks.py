#!/usr/bin/env python3
"""Measured peaks of this machine, to put the engines' numbers in context.

  .venv-bench/bin/python bench/peers/peaks.py [--n 2048] [--mem-gb 1] [--json OUT.json]
  (the venv: bash scripts/venv.sh bench)

  * sgemm n^3 fp32 GFLOP/s (2*n^3 flops per call, best of several calls after a warm-up), with
    1 and 2 threads, through numpy's bundled OpenBLAS (threads set with threadpoolctl) and
    through PyTorch's MKL (torch.set_num_threads).
  * memory bandwidth: copy of a --mem-gb GB float32 array into another one (numpy.copyto: one
    thread; torch Tensor.copy_: all threads), counted as read + write = 2 x size per copy,
    best of 5. (Write-allocate traffic is not counted, so the bus does a bit more.)

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set in the environment (this workplace sets them to
work around old OpenBLAS builds), pin OpenBLAS to an older kernel; this script re-executes itself
without them so that numpy's OpenBLAS picks its own kernel (reported by threadpoolctl).
"""

import argparse
import json
import os
import sys
import time


def best_time(fn, reps):
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--mem-gb", type=float, default=1.0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep-coretype", action="store_true", help="don't drop OPENBLAS_CORETYPE/L2_SIZE")
    args = ap.parse_args()

    if not args.keep_coretype and ("OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        os.execve(sys.executable, [sys.executable] + sys.argv, env)

    import numpy as np
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    out = {"n": args.n, "openblas": [i for i in threadpool_info() if i.get("internal_api") == "openblas"],
           "torch": torch.__version__, "numpy": np.__version__, "sgemm_gflops": {}, "copy_gb_per_s": {}}
    n = args.n
    flops = 2.0 * n ** 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    tc = torch.empty((n, n))
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            t = best_time(lambda: np.matmul(a, b, out=c), 5)
        out["sgemm_gflops"][f"numpy-openblas-{threads}t"] = flops / t / 1e9
        torch.set_num_threads(threads)
        t = best_time(lambda: torch.mm(ta, tb, out=tc), 5)
        out["sgemm_gflops"][f"torch-mkl-{threads}t"] = flops / t / 1e9

    count = int(args.mem_gb * 1e9 / 4)
    src = np.ones(count, dtype=np.float32)
    dst = np.zeros(count, dtype=np.float32)
    t = best_time(lambda: np.copyto(dst, src), 5)
    out["copy_gb_per_s"]["numpy-copyto-1t"] = 2 * src.nbytes / t / 1e9
    torch.set_num_threads(2)
    ts, td = torch.from_numpy(src), torch.from_numpy(dst)
    t = best_time(lambda: td.copy_(ts), 5)
    out["copy_gb_per_s"]["torch-copy-2t"] = 2 * src.nbytes / t / 1e9

    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
