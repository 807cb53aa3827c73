#!/usr/bin/env python3
"""Checkpoints laid out as the hub's real ones, for every supported model_type: test/fixtures/checkpoints/.

The other side of test/integration/models/checkpoints.test.ts. For each architecture, the published config.json of a real model
(the paper's where it used one: pythia-160m, Llama-3.2-1B, Llama-3.1-8B, OLMo-1B, mamba-130m; otherwise the family's
reference model) with only depth, width and vocabulary shrunk (and special-token ids that no longer fit the vocabulary
moved into it); every other key kept as published (torch_dtype, rope_scaling, architectures, transformers_version,
use_cache, extra keys). A random model (make_reference.random_model: transformers' own initialisation, matrices x3,
vector noise) is saved by transformers' save_pretrained twice:

  <name>-bf16/   torch_dtype bfloat16 (how most hub checkpoints are stored), sharded
  <name>-fp32/   torch_dtype float32, sharded

each with max_shard_size small enough for >= 2 shards and model.safetensors.index.json, tied weights absent from the
files (save_pretrained drops them), then config.json rewritten as the hub model publishes it (v4 key layout, e.g.
top-level rope_theta and torch_dtype). reference.json is computed as make_reference.py computes it, by transformers on
the model reloaded from that folder in float32 (bf16 weights are upcast exactly, so the reference is the bf16 model's
exact float32 result).

With --paper-configs it writes test/fixtures/paper-configs/<model>/ instead: the paper models' (configs/paper-*.yaml)
published config.json at full size and parameters.json (transformers' parameter count, model on the meta device).

Needs torch + transformers (not run in CI). Run from the repository root:
  python scripts/make_checkpoints.py [names...]
  python scripts/make_checkpoints.py --paper-configs
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import DEFAULT_IDS, default_mem, load_model, objective, random_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "checkpoints")
VOCAB = 512
IDS = [i % 509 for i in DEFAULT_IDS]
SHARD = "24KB"

ROPE_31 = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
           "rope_type": "llama3"}
ROPE_32 = {**ROPE_31, "factor": 32.0}

# name: (published config.json, what is shrunk). Published values as on the hub model pages.
MODELS: dict[str, tuple[dict, dict]] = {
    "pythia-160m": ({
        "architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu",
        "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
        "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": 12, "num_hidden_layers": 12,
        "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": False, "torch_dtype": "float16",
        "transformers_version": "4.24.0", "use_cache": True, "use_parallel_residual": True, "vocab_size": 50304,
    }, {"hidden_size": 32, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2}),
    "llama-3.2-1b": ({
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 128000,
        "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
        "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_scaling": ROPE_32, "rope_theta": 500000.0, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": 128256,
    }, {"head_dim": 8, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1,
        "num_hidden_layers": 2}),
    "llama-3.1-8b": ({
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 128000,
        "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
        "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_scaling": ROPE_31, "rope_theta": 500000.0, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "transformers_version": "4.43.0.dev0", "use_cache": True, "vocab_size": 128256,
    }, {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1,
        "num_hidden_layers": 2}),
    "gpt2": ({
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": 50256,
        "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024,
        "resid_pdrop": 0.1, "summary_activation": None, "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
        "summary_type": "cls_index", "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}}, "vocab_size": 50257,
    }, {"n_embd": 32, "n_head": 4, "n_layer": 2}),
    "opt-125m": ({
        "_name_or_path": "facebook/opt-125m", "_remove_final_layer_norm": False, "activation_dropout": 0.0,
        "activation_function": "relu", "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 2,
        "do_layer_norm_before": True, "dropout": 0.1, "eos_token_id": 2, "ffn_dim": 3072, "hidden_size": 768,
        "init_std": 0.02, "layerdrop": 0.0, "max_position_embeddings": 2048, "model_type": "opt",
        "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1, "prefix": "</s>",
        "torch_dtype": "float16", "transformers_version": "4.21.0.dev0", "use_cache": True, "vocab_size": 50272,
        "word_embed_proj_dim": 768,
    }, {"ffn_dim": 64, "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "word_embed_proj_dim": 32}),
    "olmo-1b": ({
        "architectures": ["OlmoForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": None,
        "clip_qkv": None, "eos_token_id": 50279, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
        "intermediate_size": 8192, "max_position_embeddings": 2048, "model_type": "olmo", "num_attention_heads": 16,
        "num_hidden_layers": 16, "num_key_value_heads": 16, "pad_token_id": 1, "pretraining_tp": 1,
        "rope_scaling": None,
        "rope_theta": 10000.0, "tie_word_embeddings": True, "torch_dtype": "float32",
        "transformers_version": "4.40.0.dev0",
        "use_cache": True, "vocab_size": 50304,
    }, {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
        "num_hidden_layers": 2}),
    "olmo-2-1b": ({
        "architectures": ["Olmo2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": None,
        "eos_token_id": 100257, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
        "intermediate_size": 8192, "max_position_embeddings": 4096, "model_type": "olmo2", "num_attention_heads": 16,
        "num_hidden_layers": 16, "num_key_value_heads": 16, "pad_token_id": 100277, "rms_norm_eps": 1e-06,
        "rope_scaling": None, "rope_theta": 500000, "tie_word_embeddings": False, "torch_dtype": "float32",
        "transformers_version": "4.48.0", "use_cache": True, "vocab_size": 100352,
    }, {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
        "num_hidden_layers": 2}),
    "qwen2.5-0.5b": ({
        "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
        "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
        "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14,
        "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": 32768, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.40.1",
        "use_cache": True, "use_mrope": False, "use_sliding_window": False, "vocab_size": 151936,
    }, {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 2, "max_window_layers": 2}),
    "qwen3-0.6b": ({
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024, "initializer_range": 0.02,
        "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
        "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
        "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False,
        "vocab_size": 151936,
    }, {"head_dim": 16, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 2, "max_window_layers": 2}),
    "mistral-7b-v0.1": ({
        "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
        "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
        "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": True, "vocab_size": 32000,
    }, {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1,
        "num_hidden_layers": 2, "sliding_window": 16}),
    "smollm3-3b": ({
        "architectures": ["SmolLM3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": None,
        "eos_token_id": 128012, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
        "intermediate_size": 11008, "max_position_embeddings": 65536, "max_window_layers": 28, "mlp_bias": False,
        "model_type": "smollm3", "no_rope_layer_interval": 4, "no_rope_layers": [1, 1, 1, 0] * 9,
        "num_attention_heads": 16, "num_hidden_layers": 36, "num_key_value_heads": 4, "pad_token_id": 128004,
        "pretraining_tp": 2, "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 5000000.0,
        "sliding_window": None, "torch_dtype": "bfloat16", "transformers_version": "4.54.0.dev0", "use_cache": False,
        "use_sliding_window": False, "vocab_size": 128256,
    }, {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1,
        "num_hidden_layers": 4, "max_window_layers": 4, "no_rope_layers": [1, 1, 1, 0]}),
    "phi-3-mini-4k": ({
        "_name_or_path": "Phi-3-mini-4k-instruct", "architectures": ["Phi3ForCausalLM"], "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 1, "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu",
        "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 4096,
        "model_type": "phi3", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
        "original_max_position_embeddings": 4096, "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05,
        "rope_scaling": None, "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "transformers_version": "4.40.2", "use_cache": True, "vocab_size": 32064,
    }, {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
        "num_hidden_layers": 2}),
    "gemma-2-2b": ({
        "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
        "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "initializer_range": 0.02,
        "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 8,
        "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0, "query_pre_attn_scalar": 256,
        "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096, "torch_dtype": "float32",
        "transformers_version": "4.42.4", "use_cache": True, "vocab_size": 256000,
    }, {"head_dim": 8, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 2, "sliding_window": 16}),
    "gemma-3-1b": ({
        "architectures": ["Gemma3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "attn_logit_softcapping": None, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
        "final_logit_softcapping": None, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
        "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 32768,
        "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1,
        "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
        "rope_scaling": None, "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6,
        "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0", "use_cache": True, "vocab_size": 262144,
    }, {"head_dim": 8, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1,
        "num_hidden_layers": 2, "sliding_window": 16}),
    "mamba-130m": ({
        "architectures": ["MambaForCausalLM"], "bos_token_id": 0, "conv_kernel": 4, "eos_token_id": 0, "expand": 2,
        "fused_add_norm": True, "hidden_act": "silu", "hidden_size": 768, "initializer_range": 0.1,
        "intermediate_size": 1536, "layer_norm_epsilon": 1e-05, "model_type": "mamba", "n_layer": 24,
        "num_hidden_layers": 24, "pad_token_id": 0, "rescale_prenorm_residual": False, "residual_in_fp32": True,
        "rms_norm": True, "state_size": 16, "time_step_floor": 0.0001, "time_step_init_scheme": "random",
        "time_step_max": 0.1, "time_step_min": 0.001, "time_step_rank": 48, "time_step_scale": 1.0,
        "torch_dtype": "float32", "transformers_version": "4.39.0.dev0", "use_bias": False, "use_cache": True,
        "use_conv_bias": True, "vocab_size": 50280,
    }, {"hidden_size": 32, "intermediate_size": 64, "n_layer": 2, "num_hidden_layers": 2, "time_step_rank": 2}),
    "mamba2-130m": ({
        "architectures": ["Mamba2ForCausalLM"], "bos_token_id": 0, "chunk_size": 256, "conv_kernel": 4,
        "eos_token_id": 0, "expand": 2, "head_dim": 64, "hidden_act": "silu", "hidden_size": 768,
        "initializer_range": 0.1, "layer_norm_epsilon": 1e-05, "model_type": "mamba2", "n_groups": 1, "num_heads": 24,
        "num_hidden_layers": 24, "pad_token_id": 0, "rescale_prenorm_residual": False, "residual_in_fp32": True,
        "rms_norm": True, "state_size": 128, "tie_word_embeddings": True, "time_step_floor": 0.0001,
        "time_step_limit": [0.0, float("inf")], "time_step_max": 0.1, "time_step_min": 0.001, "time_step_rank": 48,
        "torch_dtype": "float32", "use_bias": False, "use_cache": True, "use_conv_bias": True, "vocab_size": 50288,
    }, {"head_dim": 8, "hidden_size": 32, "num_heads": 8, "num_hidden_layers": 2, "state_size": 16,
        "time_step_rank": 2}),
}


# The paper models of configs/paper-*.yaml at full size: test/fixtures/paper-configs/<name>/config.json as published,
# and parameters.json with transformers' own parameter count (model built on the meta device: no weights).
PAPER = {
    "llama-3.1-8b": MODELS["llama-3.1-8b"][0],
    "llama-3.2-1b": MODELS["llama-3.2-1b"][0],
    "llama-3.2-3b": {**MODELS["llama-3.2-1b"][0], "head_dim": 128, "hidden_size": 3072, "num_attention_heads": 24,
                     "num_hidden_layers": 28},
    "pythia-160m": MODELS["pythia-160m"][0],
    "pythia-410m": {**MODELS["pythia-160m"][0], "hidden_size": 1024, "intermediate_size": 4096,
                    "num_attention_heads": 16, "num_hidden_layers": 24},
    "pythia-1.4b": {**MODELS["pythia-160m"][0], "hidden_size": 2048, "intermediate_size": 8192,
                    "num_attention_heads": 16, "num_hidden_layers": 24},
}


def paper_configs() -> None:
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    root = os.path.join(ROOT, "test", "fixtures", "paper-configs")
    for name, published in PAPER.items():
        out = os.path.join(root, name)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(published, f, indent=2)
            f.write("\n")
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(out))
        params = sum(p.numel() for p in model.parameters())
        with open(os.path.join(out, "parameters.json"), "w") as f:
            json.dump({"parameters": params, "made_by": f"transformers {transformers.__version__}: "
                       "sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters()) on the meta "
                       "device; scripts/make_checkpoints.py --paper-configs"}, f)
            f.write("\n")
        print(f"{out}: {params} parameters", file=sys.stderr)


def hub_config(published: dict, shrink: dict, dtype: str) -> dict:
    """The published config with depth/width/vocabulary shrunk and torch_dtype the stored dtype."""
    cfg = copy.deepcopy(published)
    cfg.update(shrink)
    cfg["vocab_size"] = VOCAB
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if isinstance(cfg.get(k), int) and cfg[k] >= VOCAB:
            cfg[k] = VOCAB - 1 - ("bos_token_id", "eos_token_id", "pad_token_id").index(k)
    cfg["torch_dtype"] = dtype
    return cfg


def main() -> None:
    import torch
    import transformers
    from transformers import AutoConfig

    torch.set_num_threads(1)
    if sys.argv[1:] == ["--paper-configs"]:
        paper_configs()
        return
    names = sys.argv[1:] or list(MODELS)
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        published, shrink = MODELS[name]
        tmp = tempfile.mkdtemp()
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(hub_config(published, shrink, "float32"), f)
        config = AutoConfig.from_pretrained(tmp)
        shutil.rmtree(tmp)
        base = random_model(config, seed=7, matrix_scale=3.0, vec_noise=0.1, noise_seed=8)
        for dtype, torch_dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
            out = os.path.join(OUT, f"{name}-{dtype}")
            shutil.rmtree(out, ignore_errors=True)
            model = copy.deepcopy(base).to(torch_dtype)
            model.save_pretrained(out, max_shard_size=SHARD)
            cfg = hub_config(published, shrink, "bfloat16" if dtype == "bf16" else "float32")
            with open(os.path.join(out, "config.json"), "w") as f:
                json.dump(cfg, f, indent=2)  # Python's json writes inf as Infinity, as the hub's files have it
                f.write("\n")
            index_path = os.path.join(out, "model.safetensors.index.json")
            with open(index_path) as f:
                index = json.load(f)
            shards = sorted(set(index["weight_map"].values()))
            assert len(shards) >= 2, f"{name}: {len(shards)} shard(s); lower SHARD"
            tied = base.config.tie_word_embeddings if hasattr(base.config, "tie_word_embeddings") else None
            stored = set(index["weight_map"])
            reloaded = load_model(out)
            mem = default_mem(reloaded.get_input_embeddings().weight.shape[1])
            r = objective(reloaded, IDS, mem)
            ref = {
                "model": f"{name}-{dtype}", "model_type": cfg["model_type"], "architecture": type(reloaded).__name__,
                "params": sum(p.numel() for p in reloaded.parameters()), "stored_tensors": len(stored),
                "shards": shards, "tied_word_embeddings": tied, "input_ids": IDS, "mem": mem,
                **{k: v for k, v in r.items() if not k.startswith("_")},
                "embedding_std": reloaded.get_input_embeddings().weight.std().item(),
                "transformers": transformers.__version__, "torch": torch.__version__,
                "description": f"{name} published config, shrunk ({', '.join(f'{k}={v}' for k, v in shrink.items())}, "
                               f"vocab_size={VOCAB}); stored {dtype}, sharded",
                "note": f"float32 on CPU, eager attention, computed by transformers on the model re-loaded from this "
                        f"folder ({dtype} weights upcast exactly); made by scripts/make_checkpoints.py",
            }
            with open(os.path.join(out, "reference.json"), "w") as f:
                json.dump(ref, f)
            size = sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))
            print(f"{out}: {len(shards)} shards, {len(stored)} tensors, tied={tied}, {size} bytes, "
                  f"loss_with_mem {r['loss_with_mem']:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
