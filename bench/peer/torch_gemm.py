#!/usr/bin/env python3
"""PyTorch's CPU matrix product in float32, bfloat16 and float16 (the peer of bench/half-kernels.ts): GFLOP/s of
y = a @ w.T for a [M, K] and w [N, K], best of --repeat, one JSON line per dtype.

  python3 bench/peer/torch_gemm.py --m 512 --k 768 --n 768 --threads 1
"""
import argparse
import json
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, default=512)
    ap.add_argument("--k", type=int, default=768)
    ap.add_argument("--n", type=int, default=768)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        x = torch.randn(a.m, a.k).to(dtype)
        w = torch.randn(a.n, a.k).to(dtype)
        x @ w.T
        best = float("inf")
        for _ in range(a.repeat):
            t = time.perf_counter()
            x @ w.T
            best = min(best, time.perf_counter() - t)
        print(json.dumps({"kind": "torch", "dtype": name, "m": a.m, "k": a.k, "n": a.n, "ms": round(best * 1e3, 3),
                          "gflops": round(2 * a.m * a.k * a.n / best / 1e9, 1), "torch": torch.__version__,
                          "cpu_capability": torch.backends.cpu.get_cpu_capability()}), flush=True)


if __name__ == "__main__":
    main()
