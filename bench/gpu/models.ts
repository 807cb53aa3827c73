/**
 * Models for the device benchmark without node_modules or big files: a model folder read from disk (host-side
 * embedding std, so no GPU readback is needed), or a random-weight model built in memory from a named config.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { CausalLM } from '../../src/models/causal-lm.ts';
import { normalizeConfig, type ModelConfig } from '../../src/models/config.ts';
import { buildModel } from '../../src/models/load.ts';
import { readModelWeights } from '../../src/models/safetensors.ts';
import type { TensorMap } from '../../src/models/tensor-map.ts';

/** Hugging Face config.json contents of the random models this benchmark can build. */
export const RANDOM_CONFIGS: Record<string, Record<string, unknown>> = {
  // GPT-2 small (124M): the shape of the paper's smallest model and of the design doc's H100 measurement.
  'gpt2-small': {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257,
    n_positions: 1024, n_ctx: 1024, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, bos_token_id: 50256, eos_token_id: 50256,
  },
  // A tiny one for tests and dry runs.
  'gpt2-tiny': {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_embd: 64, n_layer: 2, n_head: 4, vocab_size: 1000,
    n_positions: 256, n_ctx: 256, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, bos_token_id: 0, eos_token_id: 0,
  },
};

/** Fast seeded normal(0, std) values (xorshift128+ / Box–Muller): 124M values in about a second. */
export function randomNormal(count: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s0 = (seed * 2654435761) >>> 0 || 1;
  let s1 = (seed ^ 0x9e3779b9) >>> 0 || 2;
  const next = () => {
    // xorshift64-ish on two 32-bit halves; ample for benchmark weights.
    let x = s0; const y = s1; s0 = y;
    x ^= x << 23; x ^= x >>> 17; x ^= y ^ (y >>> 26); s1 = x >>> 0;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
  for (let i = 0; i < count; i += 2) {
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Random GPT-2 weights (HF names, Conv1D layout [in, out]) with GPT-2's init: N(0, 0.02), LayerNorm 1/0. */
export function randomGpt2Weights(raw: Record<string, unknown>, seed = 1): TensorMap {
  const d = raw.n_embd as number;
  const L = raw.n_layer as number;
  const V = raw.vocab_size as number;
  const P = raw.n_positions as number;
  const ffn = (raw.n_inner as number | undefined) ?? 4 * d;
  const map: TensorMap = new Map();
  let k = seed;
  const normal = (name: string, shape: number[], std = 0.02) => map.set(name, { shape, data: randomNormal(shape.reduce((a, b) => a * b, 1), std, k++) });
  const fill = (name: string, shape: number[], value: number) => map.set(name, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value) });
  normal('transformer.wte.weight', [V, d]);
  normal('transformer.wpe.weight', [P, d], 0.01);
  for (let i = 0; i < L; i++) {
    const p = `transformer.h.${i}`;
    fill(`${p}.ln_1.weight`, [d], 1); fill(`${p}.ln_1.bias`, [d], 0);
    normal(`${p}.attn.c_attn.weight`, [d, 3 * d]); fill(`${p}.attn.c_attn.bias`, [3 * d], 0);
    normal(`${p}.attn.c_proj.weight`, [d, d], 0.02 / Math.sqrt(2 * L)); fill(`${p}.attn.c_proj.bias`, [d], 0);
    fill(`${p}.ln_2.weight`, [d], 1); fill(`${p}.ln_2.bias`, [d], 0);
    normal(`${p}.mlp.c_fc.weight`, [d, ffn]); fill(`${p}.mlp.c_fc.bias`, [ffn], 0);
    normal(`${p}.mlp.c_proj.weight`, [ffn, d], 0.02 / Math.sqrt(2 * L)); fill(`${p}.mlp.c_proj.bias`, [d], 0);
  }
  fill('transformer.ln_f.weight', [d], 1); fill('transformer.ln_f.bias', [d], 0);
  return map;
}

export interface BenchModel { name: string; dir: string | null; model: CausalLM; config: ModelConfig }

/** `random:<name>` builds RANDOM_CONFIGS[name] in memory; anything else is a Hugging Face model folder. */
export function benchModel(spec: string, searchDirs: string[] = []): BenchModel {
  if (spec.startsWith('random:')) {
    const key = spec.slice('random:'.length);
    const raw = RANDOM_CONFIGS[key];
    if (!raw) throw new Error(`unknown random model "${key}"; known: ${Object.keys(RANDOM_CONFIGS).join(', ')}`);
    const config = normalizeConfig(raw, key);
    return { name: `${key}-random`, dir: null, model: buildModel(config, randomGpt2Weights(raw)), config };
  }
  const dir = [spec, ...searchDirs.map((d) => join(d, spec))].find((p) => existsSync(join(p, 'config.json')));
  if (!dir) throw new Error(`no model folder with config.json for "${spec}" (looked in ${['.', ...searchDirs].join(', ')})`);
  const config = normalizeConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'));
  const { tensors } = readModelWeights(dir);
  return { name: basename(resolve(dir)), dir: resolve(dir), model: buildModel(config, tensors), config };
}
