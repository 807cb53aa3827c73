#!/usr/bin/env python3
"""The PyTorch peer of `npm run bench`: the cramming step (Kuratov et al., 2025) with Hugging Face transformers, on
the same model folder and the same shapes as the harness, timed in the same run.

Two loops, in fp32 or under torch.autocast (--autocast: the official scripts' bf16 for Llama/OLMo), transformers AutoModelForCausalLM with inputs_embeds = [mem; token embeddings], loss = mean CE
over text positions 1..N-1 read from the text positions' logits (the mem outputs dropped), AdamW(lr 1e-2,
betas (0.9, 0.9), weight_decay 0.01) on the mem vectors only, loss and accuracy read back every step (early stopping
needs them):

- "official": the official code's loop, one text at a time (batch 1). Its model reloads (twice per text) are left
  out, which favours PyTorch.
- "batched": the harness's step in PyTorch eager: B texts, each with its own mem vectors, per-text mean losses summed.

Prints one JSON object per line. Offline; needs torch and transformers (`python3 -m venv --system-site-packages v &&
v/bin/pip install torch transformers`).

  python3 bench/peer/pytorch_step.py --model DIR --tokens 64 --batches 1,4,16 --steps 20 --mem 1 [--autocast float32,bfloat16]
"""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="Hugging Face folder (config.json + model.safetensors)")
    ap.add_argument("--tokens", default="64")
    ap.add_argument("--batches", default="1,4,16")
    ap.add_argument("--mem", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--loops", default="official,batched")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--autocast", default="float32",
                    help="comma list of float32 (no autocast), bfloat16, float16: each loop runs under torch.autocast(device, dtype)")
    a = ap.parse_args()
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        print(json.dumps({"kind": "pytorch", "skipped": f"no torch/transformers: {e}"}), flush=True)
        return 0
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    info = {"torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads(),
            "mkl": torch.backends.mkl.is_available()}
    t0 = time.perf_counter()
    device = torch.device(a.device)
    if device.type == "cuda":  # exact fp32 like the harness: no TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        info["gpu"] = torch.cuda.get_device_name(0)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, local_files_only=True).to(device).eval()
    load_s = time.perf_counter() - t0
    for p in model.parameters():
        p.requires_grad_(False)
    emb = model.get_input_embeddings()
    d = emb.weight.shape[1]
    vocab = emb.weight.shape[0]
    std = emb.weight.std().item()
    label = os.path.basename(os.path.normpath(a.model))

    def run(n, B, steps, warmup, precision):
        dtype = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[precision]
        g = torch.Generator().manual_seed(n * 1000 + B)
        ids = torch.randint(2, vocab, (B, n), generator=g)
        ids[:, 0] = 0
        ids = ids.to(device)
        with torch.no_grad():
            tok = emb(ids)
        mem = torch.nn.Parameter((torch.randn(B, a.mem, d, generator=g) * std).to(device))
        opt = torch.optim.AdamW([mem], lr=1e-2, betas=(0.9, 0.9), weight_decay=0.01)
        labels = ids[:, 1:]

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                x = torch.cat([mem, tok], dim=1)
                logits = model(inputs_embeds=x).logits[:, a.mem:-1]
                ce = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
                per_text = ce.view(B, n - 1).mean(1)
                acc = (logits.argmax(-1) == labels).float().mean(1)
            per_text.sum().backward()
            opt.step()
            return per_text.tolist(), acc.tolist()

        for _ in range(warmup):
            step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return time.perf_counter() - t

    for n, precision in [(int(x), p) for x in a.tokens.split(",") for p in a.autocast.split(",")]:
        if "official" in a.loops:
            s = run(n, 1, a.steps, a.warmup, precision)
            print(json.dumps({"kind": "pytorch", "loop": "official", "model": label, "tokens": n, "n_mem": a.mem, "batch": 1, "precision": precision,
                              "text_steps_per_s": round(a.steps / s, 3), "seconds_per_step": round(s / a.steps, 5),
                              "load_seconds": round(load_s, 2), **info}), flush=True)
        if "batched" in a.loops:
            for B in [int(x) for x in a.batches.split(",")]:
                try:
                    s = run(n, B, max(2, a.steps // max(1, B // 4)), 1, precision)
                    steps = max(2, a.steps // max(1, B // 4))
                    print(json.dumps({"kind": "pytorch", "loop": "batched", "model": label, "tokens": n, "n_mem": a.mem, "batch": B, "precision": precision,
                                      "text_steps_per_s": round(B * steps / s, 3), "seconds_per_step": round(s / steps, 5), **info}), flush=True)
                except RuntimeError as e:  # out of memory: report and go on
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                    print(json.dumps({"kind": "pytorch", "loop": "batched", "model": label, "tokens": n, "batch": B, "precision": precision,
                                      "error": str(e)[:200]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
