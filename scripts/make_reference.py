#!/usr/bin/env python3
"""Make a Hugging Face reference fixture for the harness's port of an architecture.

The other side of test/models/verify-reference.test.ts: transformers computes, in exact float32 on the CPU with eager
attention, the paper's objective on a fixed input, and writes what the harness must reproduce.

A fixture folder holds
  config.json, model.safetensors  the model (saved by transformers; small random weights unless --model-dir is given)
  reference.json                  input_ids, mem, loss_with_mem, accuracy_with_mem, grad_mem (d loss_with_mem / d mem),
                                  grad_mem_norm, loss_no_mem, accuracy_no_mem, logits_with_mem_last, logits_no_mem_first,
                                  embedding_std, description, ablations, and how it was made (versions, seeds, note)

The objective is the paper's (Kuratov et al. 2025): one [mem] vector put before the text's token embeddings (fed as
inputs_embeds, i.e. after the embedding module, so Gemma's sqrt(hidden) scaling is not applied to it), positions
0..N (mem at position 0), the mean cross-entropy of text tokens 1..N-1 predicted from the text positions' logits (the
mem position's output is dropped), accuracy = the fraction of those N-1 predictions whose argmax is right. The
no-mem numbers are the same loss and accuracy from the ids alone.

Random weights (as the test/fixtures/hf/ models were made): torch.manual_seed(--seed), the model built from its
config by transformers' own initialisation, every parameter with 2 or more dimensions (matrices, embeddings) multiplied by --matrix-scale
(so logits are not flat), then every 1-D parameter (norm weights, biases) given N(0, --vec-noise^2) noise drawn
from a torch.Generator seeded --noise-seed, in named_parameters() order (so a feature such as a bias or a norm
weight cannot be left at a value that hides it). The model is saved, reloaded from the folder, and evaluated.

Ablations (--ablate) recompute the numbers with one feature switched off, to show that the fixture exercises it
(each is stored with its spec; test/models/arch-features.test.ts replays them on the harness):
  NAME=set:KEY=JSON[;KEY=JSON...]   config overrides (e.g. sliding_window_off=set:sliding_window=null)
  NAME=zero:REGEX                   parameters whose name matches REGEX set to 0 (e.g. qkv_bias_zeroed=zero:proj\\.bias$)

Needs torch and transformers (and safetensors); not run in CI. Examples:

  # a new tiny fixture for a model type (vocab 8192, hidden 64, 2 layers, ...), written to test/fixtures/hf/tiny-qwen2
  python scripts/make_reference.py --model-type qwen2 \\
      --description "Qwen2: q/k/v biases (o_proj none), tied embeddings, GQA" --set tie_word_embeddings=true \\
      --ablate qkv_bias_zeroed='zero:self_attn\\.[qkv]_proj\\.bias$'

  # the same fixture from an existing config.json (regenerates test/fixtures/hf/tiny-qwen2's weights bit for bit)
  python scripts/make_reference.py --config test/fixtures/hf/tiny-qwen2/config.json --out /tmp/tiny-qwen2

  # a reference for a model folder you have (real weights; writes only reference.json into --out)
  python scripts/make_reference.py --model-dir ~/models/OLMo-1B-hf --out ~/models/OLMo-1B-hf

Then: node --import tsx --test test/models/verify-reference.test.ts (it picks up every test/fixtures/hf/<name>
folder that has a reference.json), or `npm run --silent cram -- verify <folder>`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

# Where new reference fixtures go: test/fixtures/hf/<model>/ (the tests pick up every folder there).
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "hf")

# The 48 token ids every test/fixtures/hf/ fixture uses (all < 8192).
DEFAULT_IDS = [
    0, 83, 465, 4229, 13, 1804, 25, 17, 2089, 200, 200, 53, 51, 1393, 52, 45, 2090, 1367, 8, 52, 530, 3144, 38, 15,
    200, 200, 1263, 684, 1389, 262, 1320, 5710, 281, 262, 1831, 2312, 13, 262, 347, 555, 2728, 3773, 200, 88, 5713,
    281, 3709, 262,
]

# Sizes of the test/fixtures/hf/ models, applied where the model type's config has the field (and not given otherwise).
TINY_DEFAULTS = {
    "vocab_size": 8192,
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            sys.exit(f"--set {item!r}: expected KEY=JSON")
        key, value = item.split("=", 1)
        out[key] = parse_value(value)
    return out


def parse_ablation(spec: str) -> tuple[str, str, object]:
    if "=" not in spec or ":" not in spec.split("=", 1)[1]:
        sys.exit(f"--ablate {spec!r}: expected NAME=set:KEY=JSON[;KEY=JSON] or NAME=zero:REGEX")
    name, rest = spec.split("=", 1)
    kind, arg = rest.split(":", 1)
    if kind == "set":
        return name, kind, parse_sets([a for a in arg.split(";") if a])
    if kind == "zero":
        return name, kind, re.compile(arg)
    sys.exit(f"--ablate {spec!r}: kind must be set or zero, not {kind!r}")


def default_mem(dim: int) -> list[float]:
    """The fixtures' [mem] vector: 0.05 sin(0.1 + 0.37 i), rounded to float32."""
    import numpy as np

    return np.asarray([0.05 * math.sin(0.1 + 0.37 * i) for i in range(dim)], dtype=np.float32).tolist()


def load_model(path: str, config=None):
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": torch.float32}
    if config is not None:
        kwargs["config"] = config
    try:
        model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", **kwargs)
    except (ValueError, TypeError):  # architectures without attention (Mamba) may refuse the argument
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model.eval()


def objective(model, ids: list[int], mem: list[float]) -> dict:
    """The paper's objective with and without one [mem] vector, as plain Python numbers."""
    import torch
    import torch.nn.functional as F

    x = torch.tensor([ids], dtype=torch.long)
    targets = x[0, 1:]
    with torch.no_grad():
        logits_no = model(input_ids=x).logits[0].float()
    pred_no = logits_no[:-1]
    loss_no = F.cross_entropy(pred_no, targets)
    acc_no = (pred_no.argmax(-1) == targets).float().mean()

    m = torch.tensor(mem, dtype=torch.float32).view(1, 1, -1).requires_grad_(True)
    with torch.no_grad():
        emb = model.get_input_embeddings()(x)
    logits = model(inputs_embeds=torch.cat([m, emb], dim=1)).logits[0].float()
    text = logits[1:]  # the mem position's output is dropped
    pred = text[:-1]
    loss = F.cross_entropy(pred, targets)
    acc = (pred.argmax(-1) == targets).float().mean()
    loss.backward()
    grad = m.grad.view(-1)
    return {
        "loss_with_mem": loss.item(),
        "accuracy_with_mem": acc.item(),
        "grad_mem": grad.tolist(),
        "grad_mem_norm": grad.norm().item(),
        "loss_no_mem": loss_no.item(),
        "accuracy_no_mem": acc_no.item(),
        "logits_with_mem_last": logits[-1].detach().tolist(),
        "logits_no_mem_first": logits_no[0].tolist(),
        "_grad": grad.detach().clone(),
        "_logits_with_mem_last": logits[-1].detach().clone(),
        "_logits_no_mem_first": logits_no[0].clone(),
    }


def random_model(config, seed: int, matrix_scale: float, vec_noise: float, noise_seed: int):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    try:
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    except (ValueError, TypeError):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.ndim >= 2:
                p.mul_(matrix_scale)
        gen = torch.Generator().manual_seed(noise_seed)
        for _, p in model.named_parameters():
            if p.ndim == 1 and vec_noise > 0:
                p.add_(torch.randn(p.shape, generator=gen) * vec_noise)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-type", help="Hugging Face model_type of a new tiny model (the fixtures' sizes unless --set)")
    src.add_argument("--config", help="config.json to build a new random model from (its model_type)")
    src.add_argument("--model-dir", help="an existing model folder: compute its reference only (no new weights)")
    ap.add_argument("--out", help="folder to write (config.json, model.safetensors, reference.json); "
                    "default for a new model: test/fixtures/hf/tiny-<model_type>")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="config override (repeatable)")
    ap.add_argument("--seed", type=int, default=7, help="torch.manual_seed before the model is built (default 7)")
    ap.add_argument("--matrix-scale", type=float, default=3.0, help="factor on every >=2-D parameter (default 3)")
    ap.add_argument("--vec-noise", type=float, default=0.1, help="std of the noise added to 1-D parameters (default 0.1)")
    ap.add_argument("--noise-seed", type=int, default=8, help="seed of the noise generator (default 8)")
    ap.add_argument("--ids", help="input ids as a JSON list (default: the fixtures' 48 ids)")
    ap.add_argument("--text", help="a text to tokenize with the model folder's tokenizer instead of --ids (stored in reference.json)")
    ap.add_argument("--max-tokens", type=int, default=48, help="with --text: keep the first N tokens (default 48)")
    ap.add_argument("--description", default="", help="what the architecture must get right (stored in reference.json)")
    ap.add_argument("--ablate", action="append", default=[], metavar="NAME=KIND:ARG", help="a feature switched off (repeatable; see above)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, for reproducible sums)")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoConfig

    if args.out is None:
        if args.model_dir:
            sys.exit("--model-dir needs --out (the folder to write reference.json into)")
        model_type = args.model_type or json.load(open(args.config))["model_type"]
        args.out = os.path.join(FIXTURES, f"tiny-{model_type}")
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    overrides = parse_sets(args.set)

    if args.model_dir:
        model_dir = args.model_dir
        if overrides:
            sys.exit("--set applies to new models only (--model-type / --config)")
        made = "weights from " + os.path.abspath(model_dir)
    else:
        if args.config:
            config = AutoConfig.from_pretrained(args.config)
            for k, v in overrides.items():
                setattr(config, k, v)
        else:
            probe = AutoConfig.for_model(args.model_type)
            sizes = {k: v for k, v in TINY_DEFAULTS.items() if hasattr(probe, k)}
            vocab = overrides.get("vocab_size", sizes.get("vocab_size"))
            for k in ("pad_token_id", "bos_token_id", "eos_token_id"):  # the full model's ids may not fit the tiny vocabulary
                v = getattr(probe, k, None)
                if vocab is not None and isinstance(v, int) and v >= vocab:
                    sizes[k] = None
            config = AutoConfig.for_model(args.model_type, **{**sizes, **overrides})
        model = random_model(config, args.seed, args.matrix_scale, args.vec_noise, args.noise_seed)
        model.save_pretrained(args.out)
        model_dir = args.out
        made = (f"random weights (seed {args.seed}, matrices x{args.matrix_scale:g}, then vectors + N(0, {args.vec_noise:g}^2) "
                f"from generator seed {args.noise_seed})")

    model = load_model(model_dir)
    config = model.config
    text = None
    if args.text is not None:
        from transformers import AutoTokenizer

        text = args.text
        ids = AutoTokenizer.from_pretrained(model_dir)(text)["input_ids"][: args.max_tokens]
    else:
        ids = json.loads(args.ids) if args.ids else DEFAULT_IDS
    vocab = model.get_input_embeddings().weight.shape[0]
    if any(not (0 <= i < vocab) for i in ids):
        sys.exit(f"input ids must lie in [0, {vocab}) for this model")
    if len(ids) < 2:
        sys.exit("need at least 2 input ids (one prediction)")
    dim = model.get_input_embeddings().weight.shape[1]
    mem = default_mem(dim)

    base = objective(model, ids, mem)
    ablations = {}
    for spec in args.ablate:
        name, kind, arg = parse_ablation(spec)
        if kind == "set":
            cfg = AutoConfig.from_pretrained(model_dir)
            for k, v in arg.items():
                if not hasattr(cfg, k):
                    sys.exit(f"--ablate {name}: the config has no field {k!r}")
                setattr(cfg, k, v)
            ablated = load_model(model_dir, cfg)
        else:
            ablated = load_model(model_dir)
            hits = [n for n, _ in ablated.named_parameters() if arg.search(n)]
            if not hits:
                sys.exit(f"--ablate {name}: no parameter matches {arg.pattern!r}")
            with torch.no_grad():
                for n, p in ablated.named_parameters():
                    if arg.search(n):
                        p.zero_()
        r = objective(ablated, ids, mem)
        ablations[name] = {
            "spec": spec.split("=", 1)[1],
            "loss_with_mem": r["loss_with_mem"],
            "loss_no_mem": r["loss_no_mem"],
            "delta_loss_with_mem": r["loss_with_mem"] - base["loss_with_mem"],
            "grad_cos": torch.nn.functional.cosine_similarity(r["_grad"], base["_grad"], dim=0).item(),
            "max_abs_logit_diff_no_mem_first": (r["_logits_no_mem_first"] - base["_logits_no_mem_first"]).abs().max().item(),
            "max_abs_logit_diff_with_mem_last": (r["_logits_with_mem_last"] - base["_logits_with_mem_last"]).abs().max().item(),
        }
        if abs(ablations[name]["delta_loss_with_mem"]) <= 1e-5 * abs(base["loss_with_mem"]):
            print(f"warning: ablation {name} changes loss_with_mem by less than 1e-5 relative: the fixture does not exercise it", file=sys.stderr)

    ref = {
        "model": os.path.basename(os.path.normpath(args.out)),
        "model_type": config.model_type,
        "architecture": type(model).__name__,
        "params": sum(p.numel() for p in model.parameters()),
        "input_ids": ids,
        "mem": mem,
        **{k: v for k, v in base.items() if not k.startswith("_")},
        "embedding_std": model.get_input_embeddings().weight.std().item(),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "ablations": ablations,
        "description": args.description,
        "generator": {k: getattr(args, k) for k in ("seed", "matrix_scale", "vec_noise", "noise_seed")} if not args.model_dir else None,
        "vec_noise": args.vec_noise if not args.model_dir else None,
        "note": (f"float32; {made}; mem at position 0 before the ids (fed as inputs_embeds, after the embedding module); "
                 "loss over ids positions 1..N-1; computed on CPU on the model re-loaded from this folder with attn_implementation eager; "
                 "made by scripts/make_reference.py"),
    }
    if text is not None:
        ref["text"] = text
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(json.dumps({k: ref[k] for k in ("model", "model_type", "loss_no_mem", "loss_with_mem", "grad_mem_norm", "accuracy_no_mem", "accuracy_with_mem")}
                     | {"ablations": {k: round(v["delta_loss_with_mem"], 6) for k, v in ablations.items()}}))


if __name__ == "__main__":
    main()
