#!/usr/bin/env python3
"""Writes test/fixtures/adamw-torch.json: torch.optim.AdamW (the paper's settings, float32, CPU) run for a few steps on
fixed parameters and gradients, every intermediate parameter value recorded, so that test/cram/adamw.test.ts can check
that the harness's host AdamW gives PyTorch's float32 results bit for bit. Needs torch:

  python3 -m venv --system-site-packages v && v/bin/pip install torch && v/bin/python scripts/adamw_reference.py
"""
import json
import math
import os

import torch


def main():
    torch.manual_seed(0)
    n = 96
    p0 = (torch.randn(n) * 0.1).float()
    grads = [(torch.randn(n) * s).float() for s in (1e-3, 3e-2, 1.0, 5e-4, 2e-1, 7e-2)]
    cases = []
    for lr, b1, b2, wd in [(1e-2, 0.9, 0.9, 0.01), (0.1, 0.9, 0.999, 0.0), (3e-3, 0.8, 0.95, 0.1)]:
        p = torch.nn.Parameter(p0.clone())
        # foreach=False: the single-tensor path the official code takes on CPU for one parameter.
        opt = torch.optim.AdamW([p], lr=lr, betas=(b1, b2), eps=1e-8, weight_decay=wd, foreach=False)
        steps = []
        for g in grads:
            p.grad = g.clone()
            opt.step()
            steps.append(p.detach().clone().tolist())
        cases.append({"lr": lr, "beta1": b1, "beta2": b2, "eps": 1e-8, "weight_decay": wd, "params": steps})
    out = {"torch": torch.__version__, "p0": p0.tolist(), "grads": [g.tolist() for g in grads], "cases": cases}
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "adamw-torch.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}: {len(cases)} settings × {len(grads)} steps × {n} values (torch {torch.__version__})")


if __name__ == "__main__":
    main()
