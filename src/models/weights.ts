/**
 * A model's frozen weights where they lie: name → (file, byte offset, dtype, shape), read from the safetensors headers
 * (or the llama2.c checkpoint layout) without loading the data. Graphs reference them as ONNX external data, so the
 * weights are read once, by ONNX Runtime, straight from the user's files (bf16/fp16 are cast to float32 inside the
 * graph, which ONNX Runtime folds at session start). The host reads a tensor only when asked (embedding std, tests).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { DType, Value } from '../engine/graph/graph.ts';
import type { Graph } from '../engine/graph/graph.ts';
import { cast } from '../engine/graph/ops.ts';

export type WeightDType = 'float32' | 'float16' | 'bfloat16';

export interface WeightEntry {
  name: string;
  dtype: WeightDType;
  shape: number[];
  /** Real path of the file that holds it (symlinks resolved: ONNX Runtime requires it). */
  file: string;
  /** Absolute byte offset in the file. */
  offset: number;
  length: number;
}

export const WEIGHT_BYTES: Record<WeightDType, number> = { float32: 4, float16: 2, bfloat16: 2 };

export class Weights {
  readonly entries = new Map<string, WeightEntry>();
  /** The one folder all weight files are in (ONNX Runtime resolves external data against one folder). */
  folder = '';

  constructor(entries: WeightEntry[]) {
    this.redirect(entries);
  }

  /** Points the weights at other byte ranges (the float32 cache); graphs built afterwards use them. */
  redirect(entries: WeightEntry[]): void {
    const folders = new Set(entries.map((e) => dirname(e.file)));
    if (folders.size > 1)
      throw new Error(
        `weight files are spread over several folders (${[...folders].join(', ')}); ONNX Runtime needs them in one`,
      );
    this.entries.clear();
    for (const e of entries) this.entries.set(e.name, e);
    this.folder = [...folders][0] ?? '';
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get(name: string, shape?: number[]): WeightEntry {
    const e = this.entries.get(name);
    if (!e) {
      const near = [...this.entries.keys()].filter((k) => k.split('.').pop() === name.split('.').pop()).slice(0, 3);
      throw new Error(
        `weight "${name}" is missing from the checkpoint` + (near.length ? ` (similar names: ${near.join(', ')})` : ''),
      );
    }
    if (shape && (e.shape.length !== shape.length || e.shape.some((s, i) => s !== shape[i]))) {
      throw new Error(`weight "${name}" has shape [${e.shape}] but the config implies [${shape}]`);
    }
    return e;
  }

  /** The weight as a float32 graph value (external data, cast in the graph when stored as bf16/fp16). */
  value(g: Graph, name: string, shape?: number[]): Value {
    const e = this.get(name, shape);
    return g.memoize(`weight:${name}`, () => {
      const raw = g.externalTensor(`w.${name}`, {
        dtype: e.dtype as DType,
        dims: e.shape,
        location: basename(e.file),
        offset: e.offset,
        length: e.length,
      });
      return cast(raw, 'float32');
    });
  }

  /**
   * Largest float32 matrix one graph value may hold; bigger 2-D weights (the embedding and head of large-vocabulary
   * models) are used as row blocks, each its own external initializer over its byte range (nothing copied). Set by the
   * engine from the execution provider (WebGPU storage bindings are limited); CRAM_MAX_BINDING_BYTES overrides it.
   */
  maxBlockBytes = Infinity;

  /** The weight as row blocks of at most maxBlockBytes (as float32); one block when it fits. */
  blocks(g: Graph, name: string, shape?: number[]): { value: Value; start: number; rows: number }[] {
    const e = this.get(name, shape);
    const env = Number(process.env.CRAM_MAX_BINDING_BYTES);
    const limit = Number.isFinite(env) && env > 0 ? env : this.maxBlockBytes;
    const [rows, ...rest] = e.shape;
    const rowElems = rest.reduce((a, b) => a * b, 1);
    if (e.shape.length < 2 || rows * rowElems * 4 <= limit)
      return [{ value: this.value(g, name, shape), start: 0, rows }];
    return g.memoize(`blocks:${name}:${limit}`, () => {
      const per = Math.max(1, Math.floor(limit / (rowElems * 4)));
      const rowBytes = rowElems * WEIGHT_BYTES[e.dtype];
      const out: { value: Value; start: number; rows: number }[] = [];
      for (let start = 0; start < rows; start += per) {
        const n = Math.min(per, rows - start);
        const raw = g.externalTensor(`w.${name}.rows${start}`, {
          dtype: e.dtype as DType,
          dims: [n, ...rest],
          location: basename(e.file),
          offset: e.offset + start * rowBytes,
          length: n * rowBytes,
        });
        out.push({ value: cast(raw, 'float32'), start, rows: n });
      }
      return out;
    });
  }

  /** A host copy in float32 (reads the bytes now). */
  read(name: string): Float32Array {
    const e = this.get(name);
    return readFloat32(e);
  }

  /** Total bytes of the weights as stored. */
  bytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.length;
    return n;
  }
}

export function readFloat32(e: WeightEntry): Float32Array {
  const count = e.shape.reduce((a, b) => a * b, 1);
  const raw = Buffer.alloc(e.length);
  const fd = openSync(e.file, 'r');
  try {
    let done = 0;
    while (done < e.length) {
      const n = readSync(fd, raw, done, e.length - done, e.offset + done);
      if (n <= 0) throw new Error(`${e.file}: unexpected end of file while reading ${e.name}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return toFloat32(raw, e.dtype, count);
}

export function toFloat32(bytes: Uint8Array, dtype: WeightDType, count: number): Float32Array {
  const copy = Uint8Array.prototype.slice.call(bytes).buffer;
  if (dtype === 'float32') return new Float32Array(copy, 0, count);
  const halves = new Uint16Array(copy, 0, count);
  const out = new Float32Array(count);
  if (dtype === 'bfloat16') {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = halves[i] << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(halves[i]);
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
