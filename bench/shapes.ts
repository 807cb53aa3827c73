/**
 * Real model shapes with random weights, written once as Hugging Face folders (config.json + model.safetensors) into
 * the cache, so the harness and the PyTorch peer load the very same files. Weights: N(0, 0.02)-like uniform values
 * for matrices, ones for norm gains, zeros for biases (the values do not change the cost of a step).
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../src/engine/cache.ts';

interface Shape {
  config: Record<string, unknown>;
  tensors: [string, number[], 'matrix' | 'ones' | 'zeros'][];
}

function llamaShape(c: {
  d: number;
  layers: number;
  heads: number;
  kv: number;
  ffn: number;
  vocab: number;
  tied: boolean;
  positions: number;
  rope: Record<string, unknown>;
}): Shape {
  const hd = c.d / c.heads;
  const t: Shape['tensors'] = [
    ['model.embed_tokens.weight', [c.vocab, c.d], 'matrix'],
    ['model.norm.weight', [c.d], 'ones'],
  ];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`;
    t.push(
      [`${p}.input_layernorm.weight`, [c.d], 'ones'],
      [`${p}.post_attention_layernorm.weight`, [c.d], 'ones'],
      [`${p}.self_attn.q_proj.weight`, [c.heads * hd, c.d], 'matrix'],
      [`${p}.self_attn.k_proj.weight`, [c.kv * hd, c.d], 'matrix'],
      [`${p}.self_attn.v_proj.weight`, [c.kv * hd, c.d], 'matrix'],
      [`${p}.self_attn.o_proj.weight`, [c.d, c.heads * hd], 'matrix'],
      [`${p}.mlp.gate_proj.weight`, [c.ffn, c.d], 'matrix'],
      [`${p}.mlp.up_proj.weight`, [c.ffn, c.d], 'matrix'],
      [`${p}.mlp.down_proj.weight`, [c.d, c.ffn], 'matrix'],
    );
  }
  if (!c.tied) t.push(['lm_head.weight', [c.vocab, c.d], 'matrix']);
  return {
    config: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: c.d,
      intermediate_size: c.ffn,
      num_hidden_layers: c.layers,
      num_attention_heads: c.heads,
      num_key_value_heads: c.kv,
      head_dim: hd,
      vocab_size: c.vocab,
      max_position_embeddings: c.positions,
      rms_norm_eps: 1e-5,
      hidden_act: 'silu',
      tie_word_embeddings: c.tied,
      rope_parameters: c.rope,
      bos_token_id: 0,
      eos_token_id: 1,
      dtype: 'bfloat16',
    },
    tensors: t,
  };
}

export const SHAPES: Record<string, () => Shape> = {
  /** GPT-2 small: 12 layers, d 768, 12 heads, vocab 50257, 1024 positions (124M). */
  'gpt2-small': () => {
    const d = 768;
    const t: Shape['tensors'] = [
      ['transformer.wte.weight', [50257, d], 'matrix'],
      ['transformer.wpe.weight', [1024, d], 'matrix'],
      ['transformer.ln_f.weight', [d], 'ones'],
      ['transformer.ln_f.bias', [d], 'zeros'],
    ];
    for (let i = 0; i < 12; i++) {
      const p = `transformer.h.${i}`;
      t.push(
        [`${p}.ln_1.weight`, [d], 'ones'],
        [`${p}.ln_1.bias`, [d], 'zeros'],
        [`${p}.ln_2.weight`, [d], 'ones'],
        [`${p}.ln_2.bias`, [d], 'zeros'],
        [`${p}.attn.c_attn.weight`, [d, 3 * d], 'matrix'],
        [`${p}.attn.c_attn.bias`, [3 * d], 'zeros'],
        [`${p}.attn.c_proj.weight`, [d, d], 'matrix'],
        [`${p}.attn.c_proj.bias`, [d], 'zeros'],
        [`${p}.mlp.c_fc.weight`, [d, 4 * d], 'matrix'],
        [`${p}.mlp.c_fc.bias`, [4 * d], 'zeros'],
        [`${p}.mlp.c_proj.weight`, [4 * d, d], 'matrix'],
        [`${p}.mlp.c_proj.bias`, [d], 'zeros'],
      );
    }
    return {
      config: {
        architectures: ['GPT2LMHeadModel'],
        model_type: 'gpt2',
        n_embd: d,
        n_layer: 12,
        n_head: 12,
        vocab_size: 50257,
        n_positions: 1024,
        activation_function: 'gelu_new',
        layer_norm_epsilon: 1e-5,
        bos_token_id: 50256,
        eos_token_id: 50256,
        dtype: 'float32',
      },
      tensors: t,
    };
  },
  /** Pythia-160M: GPT-NeoX, d 768, 12 layers, 12 heads, rotary on 25%, vocab 50304, untied head, parallel residual. */
  'pythia-160m': () => {
    const d = 768;
    const t: Shape['tensors'] = [
      ['gpt_neox.embed_in.weight', [50304, d], 'matrix'],
      ['embed_out.weight', [50304, d], 'matrix'],
      ['gpt_neox.final_layer_norm.weight', [d], 'ones'],
      ['gpt_neox.final_layer_norm.bias', [d], 'zeros'],
    ];
    for (let i = 0; i < 12; i++) {
      const p = `gpt_neox.layers.${i}`;
      t.push(
        [`${p}.input_layernorm.weight`, [d], 'ones'],
        [`${p}.input_layernorm.bias`, [d], 'zeros'],
        [`${p}.post_attention_layernorm.weight`, [d], 'ones'],
        [`${p}.post_attention_layernorm.bias`, [d], 'zeros'],
        [`${p}.attention.query_key_value.weight`, [3 * d, d], 'matrix'],
        [`${p}.attention.query_key_value.bias`, [3 * d], 'zeros'],
        [`${p}.attention.dense.weight`, [d, d], 'matrix'],
        [`${p}.attention.dense.bias`, [d], 'zeros'],
        [`${p}.mlp.dense_h_to_4h.weight`, [4 * d, d], 'matrix'],
        [`${p}.mlp.dense_h_to_4h.bias`, [4 * d], 'zeros'],
        [`${p}.mlp.dense_4h_to_h.weight`, [d, 4 * d], 'matrix'],
        [`${p}.mlp.dense_4h_to_h.bias`, [d], 'zeros'],
      );
    }
    return {
      config: {
        architectures: ['GPTNeoXForCausalLM'],
        model_type: 'gpt_neox',
        hidden_size: d,
        intermediate_size: 4 * d,
        num_hidden_layers: 12,
        num_attention_heads: 12,
        vocab_size: 50304,
        max_position_embeddings: 2048,
        rotary_pct: 0.25,
        rotary_emb_base: 10000,
        use_parallel_residual: true,
        hidden_act: 'gelu',
        layer_norm_eps: 1e-5,
        tie_word_embeddings: false,
        bos_token_id: 0,
        eos_token_id: 0,
        dtype: 'float16',
      },
      tensors: t,
    };
  },
  /**
   * Mamba-130M (state-spaces/mamba-130m-hf): d 768, 24 layers, d_state 16, expand 2 (1536), conv 4, dt_rank 48, vocab
   * 50280, tied head (129M).
   */
  'mamba-130m': () => {
    const d = 768;
    const E = 2 * d;
    const N = 16;
    const R = 48;
    const t: Shape['tensors'] = [
      ['backbone.embeddings.weight', [50280, d], 'matrix'],
      ['backbone.norm_f.weight', [d], 'ones'],
    ];
    for (let i = 0; i < 24; i++) {
      const p = `backbone.layers.${i}`;
      t.push(
        [`${p}.norm.weight`, [d], 'ones'],
        [`${p}.mixer.in_proj.weight`, [2 * E, d], 'matrix'],
        [`${p}.mixer.conv1d.weight`, [E, 1, 4], 'matrix'],
        [`${p}.mixer.conv1d.bias`, [E], 'zeros'],
        [`${p}.mixer.x_proj.weight`, [R + 2 * N, E], 'matrix'],
        [`${p}.mixer.dt_proj.weight`, [E, R], 'matrix'],
        [`${p}.mixer.dt_proj.bias`, [E], 'zeros'],
        [`${p}.mixer.A_log`, [E, N], 'matrix'],
        [`${p}.mixer.D`, [E], 'ones'],
        [`${p}.mixer.out_proj.weight`, [d, E], 'matrix'],
      );
    }
    return {
      config: {
        architectures: ['MambaForCausalLM'],
        model_type: 'mamba',
        hidden_size: d,
        intermediate_size: E,
        state_size: N,
        num_hidden_layers: 24,
        conv_kernel: 4,
        expand: 2,
        time_step_rank: R,
        vocab_size: 50280,
        use_bias: false,
        use_conv_bias: true,
        hidden_act: 'silu',
        layer_norm_epsilon: 1e-5,
        residual_in_fp32: true,
        tie_word_embeddings: true,
        bos_token_id: 0,
        eos_token_id: 0,
        pad_token_id: 0,
        dtype: 'float32',
      },
      tensors: t,
    };
  },
  /** Llama-3.2-1B: d 2048, 16 layers, 32/8 heads, ffn 8192, vocab 128256, tied, llama3 rope scaling (1.24B). */
  'llama-3.2-1b': () =>
    llamaShape({
      d: 2048,
      layers: 16,
      heads: 32,
      kv: 8,
      ffn: 8192,
      vocab: 128256,
      tied: true,
      positions: 131072,
      rope: {
        rope_type: 'llama3',
        rope_theta: 500000,
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    }),
};

/** The folder of a shape's random model, written on first use (bf16 for the big ones, as they ship). */
export function ensureShapeModel(name: string): string {
  const make = SHAPES[name];
  if (!make) throw new Error(`unknown shape "${name}"; known: ${Object.keys(SHAPES).join(', ')}`);
  const dir = join(cacheDir('bench-models'), name);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  mkdirSync(dir, { recursive: true });
  const shape = make();
  const bf16 = shape.config.dtype === 'bfloat16';
  const width = bf16 ? 2 : 4;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'random weights for benchmarks' } };
  let offset = 0;
  for (const [n, dims] of shape.tensors) {
    const bytes = dims.reduce((a, b) => a * b, 1) * width;
    header[n] = { dtype: bf16 ? 'BF16' : 'F32', shape: dims, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const tmp = join(dir, `model.safetensors.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json));
    let state = 0x9e3779b9;
    const a = 0.02 * Math.sqrt(3); // uniform(−a, a) has std 0.02
    const chunk = new Float32Array(1 << 20);
    for (const [, dims, kind] of shape.tensors) {
      let left = dims.reduce((p, q) => p * q, 1);
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        for (let i = 0; i < n; i++) {
          if (kind === 'matrix') {
            state ^= state << 13;
            state ^= state >>> 17;
            state ^= state << 5;
            chunk[i] = (((state >>> 0) / 4294967296) * 2 - 1) * a;
          } else chunk[i] = kind === 'ones' ? 1 : 0;
        }
        if (bf16) {
          const u32 = new Uint32Array(chunk.buffer, 0, n);
          const out = new Uint16Array(n);
          for (let i = 0; i < n; i++) out[i] = u32[i] >>> 16;
          writeSync(fd, new Uint8Array(out.buffer));
        } else writeSync(fd, new Uint8Array(chunk.buffer, 0, n * 4));
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(shape.config, null, 1));
  renameSync(tmp, join(dir, 'model.safetensors'));
  return dir;
}
