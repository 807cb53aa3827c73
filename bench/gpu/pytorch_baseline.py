#!/usr/bin/env python3
"""PyTorch baseline for the cramming step, the official code's algorithm (Kuratov et al., 2025):
per text, batch 1, fp32, transformers AutoModelForCausalLM with inputs_embeds = [mem; token embeddings],
AdamW(lr 1e-2, betas (0.9, 0.9), weight_decay 0.01) on the mem vector only, loss = mean CE over text positions
1..N-1 read from the text positions' logits (the mem position's output is dropped).
Times text·steps/s; prints one JSON object per line. Offline: models from local folders or random from a config.

  python3 pytorch_baseline.py --model models/gutenberg-llama-l --model random:gpt2-small --tokens 64,512 --steps 20
"""
import argparse, json, os, sys, time


def build_model(spec, device):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config
    if spec.startswith("random:"):
        name = spec.split(":", 1)[1]
        if name != "gpt2-small":
            raise SystemExit(f"unknown random model {name}")
        cfg = GPT2Config(n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024,
                         activation_function="gelu_new", layer_norm_epsilon=1e-5)
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg)
        label = "gpt2-small-random"
    else:
        model = AutoModelForCausalLM.from_pretrained(spec, torch_dtype=torch.float32, local_files_only=True)
        label = os.path.basename(os.path.normpath(spec))
    model = model.to(device=device, dtype=torch.float32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, label


def time_point(model, n_tokens, steps, warmup, device, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    vocab = model.get_input_embeddings().weight.shape[0]
    ids = torch.randint(2, vocab, (1, n_tokens), generator=g)
    ids[0, 0] = 0
    ids = ids.to(device)
    emb_layer = model.get_input_embeddings()
    d = emb_layer.weight.shape[1]
    std = emb_layer.weight.std().item()
    mem = torch.nn.Parameter(torch.randn(1, 1, d, device=device) * std)
    opt = torch.optim.AdamW([mem], lr=1e-2, betas=(0.9, 0.9), weight_decay=0.01)
    with torch.no_grad():
        tok = emb_layer(ids)
    labels = ids[:, 1:]

    def step():
        opt.zero_grad(set_to_none=True)
        x = torch.cat([mem, tok], dim=1)
        logits = model(inputs_embeds=x).logits[:, 1:-1]  # text positions 0..N-2 predict tokens 1..N-1
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        acc = (logits.argmax(-1) == labels).float().mean()
        loss.backward()
        opt.step()
        return loss.item(), acc.item()  # the official loop reads both every step (early stopping)

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss, _ = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    s = time.perf_counter() - t0
    return {"text_steps_per_s": round(steps / s, 3), "seconds_per_step": round(s / steps, 5), "last_loss": round(loss, 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--tokens", default="64,512")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default=None)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (default: exact fp32, as the harness)")
    a = ap.parse_args()
    try:
        import torch, transformers
    except ImportError as e:
        print(json.dumps({"kind": "pytorch", "skipped": f"no torch/transformers: {e}"}))
        return 0
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    info = {"torch": torch.__version__, "transformers": transformers.__version__, "device": str(device),
            "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None, "tf32": a.tf32}
    for spec in a.model:
        try:
            model, label = build_model(spec, device)
        except Exception as e:  # keep going with the other models
            print(json.dumps({"kind": "pytorch", "model": spec, "error": str(e)[:300], **info}), flush=True)
            continue
        n_pos = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", 10**9)
        for n in [int(t) for t in a.tokens.split(",")]:
            row = {"kind": "pytorch", "model": label, "tokens": n, "n_mem": 1, "batch": 1, "backend": "pytorch", **info}
            if n + 1 > n_pos:
                row["skipped"] = f"exceeds {n_pos} positions"
            else:
                try:
                    row.update(time_point(model, n, a.steps, a.warmup, device, seed=n))
                except Exception as e:
                    row["error"] = str(e)[:300]
            print(json.dumps(row), flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
