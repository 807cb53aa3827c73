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

export function readVectorFile(path: string): { memory: Float32Array; meta: VectorFileMeta } {
  const { tensors, metadata } = parseSafetensors(readFileSync(path), path);
  const mem = tensors.get('mem');
  if (!mem || metadata.format !== VECTOR_FORMAT) throw new Error(`${path} is not a cramming vector file (no "mem" tensor or format ${VECTOR_FORMAT})`);
  const meta: VectorFileMeta = {
    format: metadata.format, model: metadata.model ?? '', model_sha256: metadata.model_sha256 ?? '', tokenizer_sha256: metadata.tokenizer_sha256 ?? '',
    n_mem: Number(metadata.n_mem), embed_dim: Number(metadata.embed_dim), n_tokens: Number(metadata.n_tokens),
    text_sha256: metadata.text_sha256 ?? '', ids_sha256: metadata.ids_sha256 ?? '', extra: metadata,
  };
  if (mem.shape[0] !== meta.n_mem || mem.shape[1] !== meta.embed_dim) throw new Error(`${path}: "mem" has shape [${mem.shape}] but metadata says [${meta.n_mem}, ${meta.embed_dim}]`);
  return { memory: mem.data, meta };
}
