/**
 * A safetensors reader that checks the file before trusting it: header size cap, JSON shape, dtype, offsets inside the
 * data section, shape × dtype = byte length, tensors tiling the data section (no overlap, no hole: the format's own
 * rule), and finite float values (a NaN or infinite weight is refused with the tensor's name). Every failure names the
 * file and what is wrong.
 * F32, F16 and BF16 are upcast to float32 (the harness computes in float32).
 */
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { HostTensor, TensorMap } from './tensor-map.ts';

const MAX_HEADER_BYTES = 100 * 1024 * 1024; // the format's own cap
const BYTES_PER_ELEMENT: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

export class SafetensorsError extends Error {}

interface HeaderEntry { dtype: string; shape: number[]; data_offsets: [number, number] }
export interface SafetensorsFile { tensors: TensorMap; metadata: Record<string, string> }

export function parseSafetensors(buf: Uint8Array, file = '<buffer>', options: { only?: (name: string) => boolean } = {}): SafetensorsFile {
  const fail = (msg: string): never => { throw new SafetensorsError(`${file}: ${msg}`); };
  if (buf.byteLength < 8) fail(`file is ${buf.byteLength} bytes, too short to hold the 8-byte header length (truncated?)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte cap (not a safetensors file?)`);
  if (8 + headerLen > buf.byteLength) fail(`header claims ${headerLen} bytes but the file has only ${buf.byteLength - 8} after the length (truncated?)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = buf.byteLength - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: TensorMap = new Map();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = raw as HeaderEntry;
    if (!e || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      fail(`tensor "${name}": header entry needs dtype, shape and data_offsets [begin, end]`);
    }
    const width = BYTES_PER_ELEMENT[e.dtype];
    if (width === undefined) fail(`tensor "${name}": unknown dtype ${e.dtype}`);
    if (e.shape.some((s) => !Number.isInteger(s) || s < 0)) fail(`tensor "${name}": bad shape [${e.shape}]`);
    const [begin, end] = e.data_offsets;
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin) fail(`tensor "${name}": bad data_offsets [${begin}, ${end}]`);
    if (end > dataLen) fail(`tensor "${name}": data_offsets end ${end} is past the end of the data section (${dataLen} bytes; truncated file?)`);
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (count * width !== end - begin) fail(`tensor "${name}": shape [${e.shape}] × ${e.dtype} needs ${count * width} bytes but data_offsets span ${end - begin}`);
    spans.push({ name, begin, end });
  }
  // Sorted by offset, the tensors must tile the data section exactly: an overlap means two tensors share bytes (one of
  // them is read wrongly), a hole or a misordered offset means the header does not describe this data.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const sp of spans) {
    if (sp.begin < at) fail(`tensor "${sp.name}": data_offsets [${sp.begin}, ${sp.end}] overlap the previous tensor, which ends at ${at} (corrupt header)`);
    if (sp.begin > at) fail(`tensor "${sp.name}": data_offsets start at ${sp.begin} but the previous tensor ends at ${at} (a hole in the data section: corrupt header)`);
    at = sp.end;
  }
  if (at !== dataLen) fail(`the tensors cover ${at} bytes of a ${dataLen}-byte data section (trailing bytes: corrupt header or file)`);
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = raw as HeaderEntry;
    if (options.only && !options.only(name)) continue;
    if (!FLOAT_DTYPES.has(e.dtype)) continue; // integer buffers (e.g. position ids) are not weights we use
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    tensors.set(name, { shape: e.shape, data: toFloat32(buf.subarray(dataStart + begin, dataStart + end), e.dtype, count) });
  }
  assertFiniteTensors(tensors, file);
  return { tensors, metadata };
}

/** Refuses NaN or ±Infinity in any tensor, naming the tensor and the first bad index (one pass, no allocation). */
export function assertFiniteTensors(tensors: TensorMap, file: string): void {
  for (const [name, t] of tensors) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v - v !== 0) throw new SafetensorsError(`${file}: tensor "${name}" holds ${v} at index ${i}; non-finite weights or vectors are refused (corrupt or diverged file)`);
    }
  }
}

function toFloat32(bytes: Uint8Array, dtype: string, count: number): Float32Array {
  // Copy into a fresh, aligned buffer (Buffer.slice would be a view); safetensors and our hosts are little-endian.
  const copy = Uint8Array.prototype.slice.call(bytes).buffer;
  if (dtype === 'F32') return new Float32Array(copy, 0, count);
  const halves = new Uint16Array(copy, 0, count);
  const out = new Float32Array(count);
  if (dtype === 'BF16') {
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

export function readSafetensorsFile(path: string, options: { only?: (name: string) => boolean } = {}): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path, options);
}

/**
 * Reads `model.safetensors`, or every shard listed in `model.safetensors.index.json`, and the SHA-256 of the
 * weight bytes (shards in order), which identifies the model in vector files.
 */
export function readModelWeights(dir: string): { tensors: TensorMap; sha256: string } {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const hash = createHash('sha256');
  const readHashed = (path: string) => {
    const buf = readFileSync(path);
    hash.update(buf);
    return parseSafetensors(buf, path).tensors;
  };
  if (existsSync(single)) {
    const tensors = readHashed(single);
    return { tensors, sha256: hash.digest('hex') };
  }
  if (existsSync(index)) {
    const weightMap = (JSON.parse(readFileSync(index, 'utf8')).weight_map ?? {}) as Record<string, string>;
    const shards = [...new Set(Object.values(weightMap))];
    if (shards.length === 0) throw new SafetensorsError(`${index}: weight_map is empty`);
    const all: TensorMap = new Map();
    for (const shard of shards.sort()) {
      const path = join(dirname(index), shard);
      if (!existsSync(path)) throw new SafetensorsError(`${index} lists shard ${shard}, which is not in ${dir}`);
      for (const [k, v] of readHashed(path)) all.set(k, v);
    }
    return { tensors: all, sha256: hash.digest('hex') };
  }
  throw new SafetensorsError(`${dir} has neither model.safetensors nor model.safetensors.index.json`);
}

/** Writes float32 tensors and string metadata as a safetensors buffer. */
export function serializeSafetensors(tensors: Record<string, HostTensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data section to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(out, pos);
    pos += d.byteLength;
  }
  return out;
}
