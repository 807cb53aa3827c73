/**
 * Reader for Karpathy's llama2.c checkpoints in the legacy "version 0" export (what run.c's `read_checkpoint` /
 * `memory_map_weights` read, e.g. the tinyllamas stories260K / stories15M files).
 *
 * Layout: seven little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; vocab_size is
 * negative when the classifier is NOT shared with the token embedding), then float32 arrays in this order:
 *
 *   token_embedding_table  vocab × dim
 *   rms_att_weight         n_layers × dim
 *   wq                     n_layers × (n_heads·head_size) × dim        (nn.Linear [out, in])
 *   wk, wv                 n_layers × (n_kv_heads·head_size) × dim
 *   wo                     n_layers × dim × (n_heads·head_size)
 *   rms_ffn_weight         n_layers × dim
 *   w1 (gate), w2 (down), w3 (up)  n_layers × hidden × dim, n_layers × dim × hidden, n_layers × hidden × dim
 *   rms_final_weight       dim
 *   freq_cis_real, freq_cis_imag  seq_len × head_size/2 each (skipped: the model computes its own rotary tables)
 *   wcls                   vocab × dim, only when not shared
 *
 * The per-layer matrices were written from `nn.Linear.weight`, i.e. already in the PyTorch/Hugging Face [out, in]
 * row-major layout, so each slice maps directly onto the Hugging Face Llama name. The q/k weights are NOT permuted:
 * llama2.c trains with interleaved (pairwise) rotary embeddings, which the returned config flags with
 * `rope_interleaved: true` for the model code to honour.
 */
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import type { TensorMap } from './tensor-map.ts';
import type { WeightEntry } from './weights.ts';

const HEADER_INTS = 7;
const HEADER_BYTES = HEADER_INTS * 4;

export class Llama2cCheckpointError extends Error {}

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** Whether the classifier reuses the token embedding (vocab_size was positive in the header). */
  sharedClassifier: boolean;
  headSize: number;
}

export interface Llama2cCheckpoint {
  /** A raw Hugging Face style config.json object for the llama architecture's config reader. */
  config: Record<string, unknown>;
  /** Where each weight lies in the file (float32, Hugging Face names). */
  entries: WeightEntry[];
}

/** Read a llama2.c version-0 checkpoint's layout from disk (header only). Errors name the file and what is wrong. */
export function readLlama2cCheckpoint(path: string): Llama2cCheckpoint {
  let file: string;
  let size: number;
  const header = Buffer.alloc(HEADER_BYTES);
  try {
    file = realpathSync(path);
    size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      readSync(fd, header, 0, HEADER_BYTES, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new Llama2cCheckpointError(`${path}: cannot read llama2.c checkpoint (${(e as Error).message})`);
  }
  return layoutLlama2cCheckpoint(size >= HEADER_BYTES ? header : header.subarray(0, size), size, file, path);
}

/** Parse a llama2.c checkpoint held in memory (tests): its layout, plus host copies of the weights. */
export function parseLlama2cCheckpoint(buf: Uint8Array, file = '<buffer>'): Llama2cCheckpoint & { tensors: TensorMap } {
  const layout = layoutLlama2cCheckpoint(buf, buf.byteLength, file, file);
  const tensors: TensorMap = new Map();
  for (const e of layout.entries) {
    // Copy into a fresh, aligned array (the buffer's byteOffset need not be a multiple of 4).
    const data = new Float32Array(e.length / 4);
    new Uint8Array(data.buffer).set(buf.subarray(e.offset, e.offset + e.length));
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { ...layout, tensors };
}

/** Parse the header only (validated), without touching the weights. */
export function parseLlama2cHeader(buf: Uint8Array, file = '<buffer>'): Llama2cHeader {
  const fail = (msg: string): never => {
    throw new Llama2cCheckpointError(`${file}: ${msg}`);
  };
  if (buf.byteLength < HEADER_BYTES) {
    fail(
      `file is ${buf.byteLength} bytes, too short for the ${HEADER_BYTES}-byte llama2.c header (truncated or not a llama2.c checkpoint?)`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, HEADER_BYTES);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from({ length: HEADER_INTS }, (_, i) =>
    view.getInt32(i * 4, true),
  );
  const fields = {
    dim,
    hidden_dim: hiddenDim,
    n_layers: nLayers,
    n_heads: nHeads,
    n_kv_heads: nKvHeads,
    seq_len: seqLen,
  };
  for (const [k, v] of Object.entries(fields)) {
    if (v <= 0)
      fail(`header field ${k} = ${v} must be positive (not a llama2.c version-0 checkpoint? header: ${headerText()})`);
  }
  if (rawVocab === 0) fail(`header field vocab_size is 0 (header: ${headerText()})`);
  if (dim % nHeads !== 0) fail(`dim ${dim} is not divisible by n_heads ${nHeads} (header: ${headerText()})`);
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0)
    fail(`n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads} (header: ${headerText()})`);
  const headSize = dim / nHeads;
  if (headSize % 2 !== 0)
    fail(`head size ${headSize} (dim / n_heads) must be even for rotary embeddings (header: ${headerText()})`);
  return {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: Math.abs(rawVocab),
    seqLen,
    sharedClassifier: rawVocab > 0,
    headSize,
  };

  function headerText(): string {
    return `dim=${dim} hidden_dim=${hiddenDim} n_layers=${nLayers} n_heads=${nHeads} n_kv_heads=${nKvHeads} vocab_size=${rawVocab} seq_len=${seqLen}`;
  }
}

/** The checkpoint's layout from its header (`buf` needs only the header) and its size in bytes. */
function layoutLlama2cCheckpoint(buf: Uint8Array, byteLength: number, file: string, shown: string): Llama2cCheckpoint {
  const fail = (msg: string): never => {
    throw new Llama2cCheckpointError(`${shown}: ${msg}`);
  };
  if (endianness() !== 'LE') fail('llama2.c checkpoints are little-endian; this host is big-endian (unsupported)');
  const h = parseLlama2cHeader(buf, shown);
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, headSize } = h;
  const qDim = nHeads * headSize;
  const kvDim = nKvHeads * headSize;

  // Every array in file order: [label, element count, per-layer HF name pattern or null (skipped), per-slice shape].
  type Section = { label: string; layers: number; shape: number[]; name: ((l: number) => string) | null };
  const L = (suffix: string) => (l: number) => `model.layers.${l}.${suffix}`;
  const sections: Section[] = [
    { label: 'token_embedding_table', layers: 0, shape: [vocabSize, dim], name: () => 'model.embed_tokens.weight' },
    { label: 'rms_att_weight', layers: nLayers, shape: [dim], name: L('input_layernorm.weight') },
    { label: 'wq', layers: nLayers, shape: [qDim, dim], name: L('self_attn.q_proj.weight') },
    { label: 'wk', layers: nLayers, shape: [kvDim, dim], name: L('self_attn.k_proj.weight') },
    { label: 'wv', layers: nLayers, shape: [kvDim, dim], name: L('self_attn.v_proj.weight') },
    { label: 'wo', layers: nLayers, shape: [dim, qDim], name: L('self_attn.o_proj.weight') },
    { label: 'rms_ffn_weight', layers: nLayers, shape: [dim], name: L('post_attention_layernorm.weight') },
    { label: 'w1', layers: nLayers, shape: [hiddenDim, dim], name: L('mlp.gate_proj.weight') },
    { label: 'w2', layers: nLayers, shape: [dim, hiddenDim], name: L('mlp.down_proj.weight') },
    { label: 'w3', layers: nLayers, shape: [hiddenDim, dim], name: L('mlp.up_proj.weight') },
    { label: 'rms_final_weight', layers: 0, shape: [dim], name: () => 'model.norm.weight' },
    { label: 'freq_cis_real', layers: 0, shape: [seqLen, headSize / 2], name: null },
    { label: 'freq_cis_imag', layers: 0, shape: [seqLen, headSize / 2], name: null },
  ];
  if (!h.sharedClassifier)
    sections.push({ label: 'wcls', layers: 0, shape: [vocabSize, dim], name: () => 'lm_head.weight' });

  const sliceCount = (s: Section) => s.shape.reduce((a, b) => a * b, 1);
  const sectionBytes = (s: Section) => sliceCount(s) * Math.max(1, s.layers) * 4;
  const expected = HEADER_BYTES + sections.reduce((a, s) => a + sectionBytes(s), 0);
  if (byteLength !== expected) {
    // Say which array the data runs out in (truncation) or how much is left over (wrong header / wrong format).
    let offset = HEADER_BYTES;
    let where = '';
    for (const s of sections) {
      if (offset + sectionBytes(s) > byteLength) {
        where = `; the data ends inside ${s.label} (which starts at byte ${offset})`;
        break;
      }
      offset += sectionBytes(s);
    }
    const how =
      byteLength < expected
        ? `is ${byteLength} bytes but the header implies ${expected} (${expected - byteLength} bytes missing: truncated file?${where})`
        : `is ${byteLength} bytes but the header implies ${expected} (${byteLength - expected} unexpected trailing bytes: not a version-0 llama2.c export, or the header is wrong)`;
    fail(
      `${how}; header: dim=${dim} hidden_dim=${hiddenDim} n_layers=${nLayers} n_heads=${nHeads} n_kv_heads=${nKvHeads} ` +
        `vocab_size=${h.sharedClassifier ? vocabSize : -vocabSize} seq_len=${seqLen}`,
    );
  }

  const entries: WeightEntry[] = [];
  let offset = HEADER_BYTES;
  for (const s of sections) {
    const count = sliceCount(s);
    for (let l = 0; l < Math.max(1, s.layers); l++) {
      if (s.name)
        entries.push({ name: s.name(l), dtype: 'float32', shape: [...s.shape], file, offset, length: count * 4 });
      offset += count * 4;
    }
  }
  if (offset !== byteLength) fail(`internal error: consumed ${offset} of ${byteLength} bytes`);

  const config: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: dim,
    intermediate_size: hiddenDim,
    num_hidden_layers: nLayers,
    num_attention_heads: nHeads,
    num_key_value_heads: nKvHeads,
    head_dim: headSize,
    vocab_size: vocabSize,
    max_position_embeddings: seqLen,
    rms_norm_eps: 1e-5, // run.c's rmsnorm
    rope_theta: 10000,
    rope_interleaved: true, // llama2.c rotates adjacent pairs; weights are left unpermuted
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: h.sharedClassifier,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
  return { config, entries };
}
