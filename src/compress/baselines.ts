/**
 * Honest compression baselines for a text next to its `.mem` file: the text's own bytes, general-purpose compressors
 * (gzip and brotli at their best settings, node:zlib), and the frozen model's code length Σ −log2 p(token | prefix):
 * the size an arithmetic coder driven by the same model would reach (within 2 bits), which is what the vectors
 * should be compared with (Kuratov et al. §4.9: a vector's capacity is measured against the text's cross-entropy).
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { CompiledModel } from '../cram/compiled-model.ts';

export interface ModelCodeLength {
  /** Σ −log2 p(token | previous tokens) over the coded tokens. */
  bits: number;
  /** Tokens whose probability is counted. */
  codedTokens: number;
  /** Leading tokens taken as given, not coded: BOS (not part of the text) or, without BOS, the text's first token. */
  givenTokens: number;
  /** Context windows the text was scored in (> 1 when it is longer than the window). */
  windows: number;
}

const LN2 = Math.log(2);

/**
 * The model's code length for `ids` (as the tokenizer makes them, BOS included where it adds one): the first id is
 * given, every later one is coded with the model's probability given all ids before it. A text longer than `window`
 * (default: the model's positions, at most 1024) is scored in overlapping windows: each later window sees the half
 * window of tokens before the ones it codes, so every token is coded exactly once, with at least that much context.
 */
export async function modelCodeLength(
  compiled: CompiledModel,
  ids: number[],
  opts: { window?: number } = {},
): Promise<ModelCodeLength> {
  if (ids.length < 2) return { bits: 0, codedTokens: 0, givenTokens: ids.length, windows: 0 };
  const W = Math.max(2, Math.min(opts.window ?? 1024, compiled.model.maxPositions));
  const context = Math.floor(W / 2);
  let nats = 0;
  let next = 1; // the next target position to code
  let windows = 0;
  while (next < ids.length) {
    const start = next === 1 ? 0 : next - context;
    const slice = ids.slice(start, Math.min(ids.length, start + W));
    const r = await compiled.objective(0, null, [slice], false);
    // tokenCe[i] is the cross-entropy (nats) of predicting slice[i + 1]; code targets from `next` on.
    for (let i = next - start - 1; i < slice.length - 1; i++) nats += r.tokenCe[i];
    next = start + slice.length;
    windows++;
  }
  return { bits: nats / LN2, codedTokens: ids.length - 1, givenTokens: 1, windows };
}

export interface CompressionBaselines {
  /** UTF-8 bytes of the text. */
  text_bytes: number;
  /** Bytes of the .mem file (float32 vectors + metadata). */
  mem_bytes: number;
  /** gzip -9 (node:zlib). */
  gzip_bytes: number;
  /** brotli quality 11, text mode (node:zlib). */
  brotli_bytes: number;
  /** Σ −log2 p(token) under the same frozen model (first token given). */
  model_code_bits: number;
  /** ceil(model_code_bits / 8): what an arithmetic coder on the model would need, ±1 byte. */
  model_code_bytes: number;
  /** Tokens of the text (BOS not counted). */
  tokens: number;
}

export function gzipBytes(text: string): number {
  return gzipSync(Buffer.from(text, 'utf8'), { level: 9 }).byteLength;
}

export function brotliBytes(text: string): number {
  const buf = Buffer.from(text, 'utf8');
  return brotliCompressSync(buf, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: buf.byteLength,
    },
  }).byteLength;
}

/** Every figure for a text whose .mem file has `memBytes` bytes; `ids` as the tokenizer makes them (BOS included). */
export async function compressionBaselines(
  compiled: CompiledModel,
  text: string,
  ids: number[],
  bos: number | null,
  memBytes: number,
): Promise<CompressionBaselines> {
  const code = await modelCodeLength(compiled, ids);
  return {
    text_bytes: Buffer.byteLength(text, 'utf8'),
    mem_bytes: memBytes,
    gzip_bytes: gzipBytes(text),
    brotli_bytes: brotliBytes(text),
    model_code_bits: Number(code.bits.toFixed(1)),
    model_code_bytes: Math.ceil(code.bits / 8),
    tokens: bos !== null && ids[0] === bos ? ids.length - 1 : ids.length,
  };
}
