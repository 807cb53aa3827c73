/**
 * Trained [mem] vectors on disk: safetensors with one tensor "mem" [K, d] and metadata that says what they belong to
 * (model folder name and weight hash, tokenizer hash, K, token count, text hash, the training settings).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { parseSafetensors, serializeSafetensors } from '../models/safetensors.ts';

export const VECTOR_FORMAT = 'cramming-vectors/1';

export interface VectorFileMeta {
  format: string;
  model: string;
  model_sha256: string;
  tokenizer_sha256: string;
  n_mem: number;
  embed_dim: number;
  n_tokens: number;
  text_sha256: string;
  ids_sha256: string;
  /** Anything else worth keeping (settings, metrics). */
  extra?: Record<string, string | number>;
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Hash of a token id list (what the vectors reproduce). */
export function idsSha256(ids: number[]): string {
  return sha256(ids.join(','));
}

export function writeVectorFile(path: string, memory: Float32Array, meta: Omit<VectorFileMeta, 'format'>): void {
  const metadata: Record<string, string> = { format: VECTOR_FORMAT };
  const { extra, ...fields } = meta;
  for (const [k, v] of Object.entries({ ...extra, ...fields })) metadata[k] = String(v);
  const buf = serializeSafetensors({ mem: { shape: [meta.n_mem, meta.embed_dim], data: memory } }, metadata);
  // Write then rename: a crash never leaves a half-written vector file under the final name.
  writeFileSync(`${path}.tmp`, buf);
  renameSync(`${path}.tmp`, path);
}

/**
 * Reads and checks a vector file: the safetensors structure (and finite values, by parseSafetensors), the format tag,
 * every metadata field's type (a wrong one is named, with what was found), and the tensor's shape against the metadata.
 */
export function readVectorFile(path: string): { memory: Float32Array; meta: VectorFileMeta } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read vector file ${path}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = parseSafetensors(buf, path);
  const fail = (msg: string): never => {
    throw new Error(`${path}: ${msg}`);
  };
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    fail('the safetensors metadata is not an object');
  if (metadata.format !== VECTOR_FORMAT)
    fail(
      `not a cramming vector file: metadata "format" is ${metadata.format === undefined ? 'missing' : JSON.stringify(metadata.format)}, expected "${VECTOR_FORMAT}"`,
    );
  const mem = tensors.get('mem');
  if (!mem) fail(`no "mem" tensor (tensors: ${[...tensors.keys()].join(', ') || 'none'})`);
  const text = (key: string, pattern?: RegExp, what?: string): string => {
    const v = (metadata as Record<string, unknown>)[key];
    if (v === undefined) return fail(`metadata "${key}" is missing`);
    if (typeof v !== 'string')
      return fail(
        `metadata "${key}" is ${Array.isArray(v) ? 'a list' : `the ${typeof v} ${JSON.stringify(v)}`}; safetensors metadata values are strings`,
      );
    if (pattern && !pattern.test(v))
      fail(`metadata "${key}" is ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}, not ${what}`);
    return v;
  };
  const count = (key: string, min: number) => {
    const n = Number(text(key, /^\d+$/, 'a whole number'));
    if (!Number.isSafeInteger(n) || n < min) fail(`metadata "${key}" is ${n}; it must be at least ${min}`);
    return n;
  };
  const hash = /^[0-9a-f]{64}$/;
  const meta: VectorFileMeta = {
    format: VECTOR_FORMAT,
    model: text('model'),
    model_sha256: text('model_sha256', hash, 'a SHA-256 hex digest'),
    tokenizer_sha256: text('tokenizer_sha256', /^([0-9a-f]{64})?$/, 'a SHA-256 hex digest'),
    n_mem: count('n_mem', 1),
    embed_dim: count('embed_dim', 1),
    n_tokens: count('n_tokens', 2),
    text_sha256: text('text_sha256', /^([0-9a-f]{64})?$/, 'a SHA-256 hex digest'),
    ids_sha256: text('ids_sha256', hash, 'a SHA-256 hex digest'),
    extra: metadata,
  };
  if (mem!.shape.length !== 2 || mem!.shape[0] !== meta.n_mem || mem!.shape[1] !== meta.embed_dim) {
    fail(`"mem" has shape [${mem!.shape}] but the metadata says [${meta.n_mem}, ${meta.embed_dim}] (n_mem, embed_dim)`);
  }
  return { memory: mem!.data, meta };
}
