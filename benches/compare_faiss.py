#!/usr/bin/env python3
"""1:N top-k face search: registro's FaceGallery against faiss IndexFlatIP, same data, same threads.

Prerequisites: `pip install faiss-cpu numpy` and
`cargo build --release --example face_search` (run this script from the crate root, or set
FACE_SEARCH_BIN). For each gallery size it draws seeded random unit vectors (128-d float32),
writes them to a temporary file, times the Rust example on them (it prints its own median
ms per query and the read bandwidth of the gallery matrix), then times faiss on the very same
arrays, one query per search call as the service does. It checks that both return the same
best row for every query and prints, per size:

    ratio_vs_faiss <faiss ms / registro ms>   (> 1 means registro is faster)
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

    faiss.omp_set_num_threads(args.threads)
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
            env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
            out = subprocess.run(
                [binary, "--gallery", gpath, "--queries", qpath, "--k", str(args.k), "--reps", str(args.reps)],
                env=env, check=True, capture_output=True, text=True,
            ).stdout
        rust = dict(line.split(" ", 1) for line in out.strip().splitlines())
        rust_ms = float(rust["ms_per_query"])
        rust_top1 = [int(v) for v in rust["top1"].split(",")]

        index = faiss.IndexFlatIP(128)
        index.add(xb)
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
        faiss_ms = float(np.median(times))
        # for context only: faiss answering all queries in one call (BLAS path), per query
        t = time.perf_counter()
        index.search(xq, args.k)
        batch_ms = (time.perf_counter() - t) * 1e3 / args.queries
        agree = sum(a == b for a, b in zip(rust_top1, faiss_top1))
        print(f"n {n}")
        print(f"  registro_ms_per_query {rust_ms:.3}  (kernel {rust['kernel']}, rayon threads {rust['threads']})")
        print(f"  faiss_ms_per_query {faiss_ms:.3}")
        print(f"  faiss_batched_ms_per_query {batch_ms:.3}  (all {args.queries} queries in one call; not the service's case)")
        print(f"  top1_agreement {agree}/{args.queries}")
        print(f"  ratio_vs_faiss {faiss_ms / rust_ms:.3}")
        print(f"  gallery_bytes {rust['gallery_bytes']}  bandwidth_gbps {rust['bandwidth_gbps']}  bound_ms {rust['bound_ms']}")
        print(f"  registro_vs_bound {float(rust['bound_ms']) / rust_ms:.3}")
        del index, xb


if __name__ == "__main__":
    main()
