#!/usr/bin/env python3
"""1:N top-k face search: registro's FaceGallery against faiss IndexFlatIP, same data, like with like.

Prerequisites: `pip install faiss-cpu numpy` and
`cargo build --release --example face_search` (run this script from the crate root, or set
FACE_SEARCH_BIN). For each gallery size it draws seeded random unit vectors (128-d float32),
writes them to a temporary file, and times in one run, on the very same arrays:

- registro on ONE thread against faiss answering one query per call on ONE thread (faiss's
  exhaustive search spreads over queries, so a single query runs on one thread anyway; the
  script also sets omp threads to 1 for it): `ratio_1thread`;
- registro on `--threads` threads (one query at a time, as the service searches) against faiss
  answering all queries in one call on `--threads` threads (its batched BLAS path), per query:
  `ratio_vs_faiss_batched`.

It checks that both return the same best row for every query and prints, per size:

    ratio_1thread <faiss 1-thread ms / registro 1-thread ms>        (> 1: registro faster)
    ratio_vs_faiss_batched <faiss batched ms per query / registro N-thread ms>
    bound_ms <gallery bytes / measured read bandwidth>

Usage: python3 benches/compare_faiss.py [--sizes 100000,1000000] [--threads 2] [--k 10]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    import faiss  # noqa: E402  (after argparse so --help works without it)

    binary = os.environ.get("FACE_SEARCH_BIN", "target/release/examples/face_search")
    if not os.path.exists(binary):
        sys.exit(f"{binary} missing: cargo build --release --example face_search")
    print(f"faiss {faiss.__version__}, numpy {np.__version__}, threads {args.threads}, k {args.k}")
    rng = np.random.default_rng(args.seed)
    for n in [int(s) for s in args.sizes.split(",")]:
        xb = rng.standard_normal((n, 128), dtype=np.float32)
        xb /= np.linalg.norm(xb, axis=1, keepdims=True)
        # queries: noisy copies of gallery rows, as a returning person would be
        rows = rng.choice(n, size=args.queries, replace=False)
        xq = xb[rows] + 0.05 * rng.standard_normal((args.queries, 128), dtype=np.float32)
        xq /= np.linalg.norm(xq, axis=1, keepdims=True)
        with tempfile.TemporaryDirectory() as tmp:
            gpath, qpath = os.path.join(tmp, "g.f32"), os.path.join(tmp, "q.f32")
            xb.astype("<f4").tofile(gpath)
            xq.astype("<f4").tofile(qpath)
            runs = {}
            for threads in sorted({1, args.threads}):
                env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
                out = subprocess.run(
                    [binary, "--gallery", gpath, "--queries", qpath, "--k", str(args.k), "--reps", str(args.reps)],
                    env=env, check=True, capture_output=True, text=True,
                ).stdout
                runs[threads] = dict(line.split(" ", 1) for line in out.strip().splitlines())
        rust1 = runs[1]
        rustn = runs[args.threads]
        rust1_ms = float(rust1["ms_per_query"])
        rustn_ms = float(rustn["ms_per_query"])
        rust_top1 = [int(v) for v in rustn["top1"].split(",")]

        index = faiss.IndexFlatIP(128)
        index.add(xb)
        # faiss, one query per call, one thread.
        faiss.omp_set_num_threads(1)
        times, faiss_top1 = [], []
        for i in range(args.queries):
            q = xq[i : i + 1]
            index.search(q, args.k)  # warm
            for rep in range(args.reps):
                t = time.perf_counter()
                _, ids = index.search(q, args.k)
                times.append((time.perf_counter() - t) * 1e3)
                if rep == 0:
                    faiss_top1.append(int(ids[0, 0]))
        faiss1_ms = float(np.median(times))
        # faiss, all queries in one call (BLAS path), on --threads threads, per query.
        faiss.omp_set_num_threads(args.threads)
        index.search(xq, args.k)  # warm
        batch = []
        for rep in range(args.reps):
            t = time.perf_counter()
            index.search(xq, args.k)
            batch.append((time.perf_counter() - t) * 1e3 / args.queries)
        batch_ms = float(np.median(batch))
        agree = sum(a == b for a, b in zip(rust_top1, faiss_top1))
        print(f"n {n}")
        print(f"  registro_1thread_ms_per_query {rust1_ms:.3}  (kernel {rust1['kernel']})")
        print(f"  faiss_1thread_ms_per_query {faiss1_ms:.3}  (one query per call)")
        print(f"  ratio_1thread {faiss1_ms / rust1_ms:.3}")
        print(f"  registro_{args.threads}threads_ms_per_query {rustn_ms:.3}  (one query at a time, rayon threads {rustn['threads']})")
        print(f"  faiss_batched_{args.threads}threads_ms_per_query {batch_ms:.3}  (all {args.queries} queries in one call)")
        print(f"  ratio_vs_faiss_batched {batch_ms / rustn_ms:.3}")
        print(f"  top1_agreement {agree}/{args.queries}")
        print(f"  gallery_bytes {rustn['gallery_bytes']}  bandwidth_gbps {rustn['bandwidth_gbps']}  bound_ms {rustn['bound_ms']}")
        print(f"  registro_vs_bound {float(rustn['bound_ms']) / rustn_ms:.3}")
        del index, xb


if __name__ == "__main__":
    main()
