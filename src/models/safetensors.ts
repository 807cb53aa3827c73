/**
 * A safetensors reader that checks the file before trusting it: header size cap, JSON shape, dtype, offsets inside the
 * data section, shape × dtype = byte length, and tensors tiling the data section (no overlap, no hole: the format's
 * own rule). Tensors read to the host (vector files) must also be finite (a NaN or infinite value is refused with the
 * tensor's name); model weights are not read here — their finiteness is checked with their fingerprint
 * (fingerprint.ts). Every failure names the file and what is wrong. F32, F16 and BF16 are upcast to float32.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { HostTensor, TensorMap } from './tensor-map.ts';
import { toFloat32, type WeightDType, type WeightEntry } from './weights.ts';

const MAX_HEADER_BYTES = 100 * 1024 * 1024; // the format's own cap
const BYTES_PER_ELEMENT: Record<string, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

export class SafetensorsError extends Error {}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}
export interface SafetensorsFile {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

interface ValidEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Validates a parsed header against the data section's length: dtypes, shapes, offsets inside the data section, byte
 * lengths equal to shape × dtype, and no two tensors sharing bytes (overlapping ranges would silently alias weights).
 */
function validateHeader(header: Record<string, unknown>, dataLen: number, fail: (msg: string) => never): ValidEntry[] {
  const out: ValidEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = raw as HeaderEntry;
    if (
      !e ||
      typeof e.dtype !== 'string' ||
      !Array.isArray(e.shape) ||
      !Array.isArray(e.data_offsets) ||
      e.data_offsets.length !== 2
    ) {
      fail(`tensor "${name}": header entry needs dtype, shape and data_offsets [begin, end]`);
    }
    const width = BYTES_PER_ELEMENT[e.dtype];
    if (width === undefined) fail(`tensor "${name}": unknown dtype ${e.dtype}`);
    if (e.shape.some((s) => !Number.isInteger(s) || s < 0)) fail(`tensor "${name}": bad shape [${e.shape}]`);
    const [begin, end] = e.data_offsets;
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin)
      fail(`tensor "${name}": bad data_offsets [${begin}, ${end}]`);
    if (end > dataLen)
      fail(
        `tensor "${name}": data_offsets end ${end} is past the end of the data section (${dataLen} bytes; truncated file?)`,
      );
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (count * width !== end - begin)
      fail(
        `tensor "${name}": shape [${e.shape}] × ${e.dtype} needs ${count * width} bytes but data_offsets span ${end - begin}`,
      );
    out.push({ name, dtype: e.dtype, shape: e.shape, begin, end });
  }
  // Sorted by offset, the tensors must tile the data section exactly: an overlap means two tensors share bytes (one of
  // them is read wrongly), a hole or a misordered offset means the header does not describe this data.
  const spans = [...out].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const sp of spans) {
    if (sp.begin < at)
      fail(
        `tensor "${sp.name}": data_offsets [${sp.begin}, ${sp.end}] overlap the previous tensor, which ends at ${at} (corrupt header)`,
      );
    if (sp.begin > at)
      fail(
        `tensor "${sp.name}": data_offsets start at ${sp.begin} but the previous tensor ends at ${at} (a hole in the data section: corrupt header)`,
      );
    at = sp.end;
  }
  if (at !== dataLen)
    fail(`the tensors cover ${at} bytes of a ${dataLen}-byte data section (trailing bytes: corrupt header or file)`);
  return out;
}

/** Refuses NaN or ±Infinity in any tensor, naming the tensor and the first bad index (one pass, no allocation). */
export function assertFiniteTensors(tensors: TensorMap, file: string): void {
  for (const [name, t] of tensors) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v - v !== 0)
        throw new SafetensorsError(
          `${file}: tensor "${name}" holds ${v} at index ${i}; non-finite weights or vectors are refused (corrupt or diverged file)`,
        );
    }
  }
}

function parseHeaderJson(bytes: Uint8Array, fail: (msg: string) => never): Record<string, unknown> {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  return header;
}

export function parseSafetensors(
  buf: Uint8Array,
  file = '<buffer>',
  options: { only?: (name: string) => boolean } = {},
): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${file}: ${msg}`);
  };
  if (buf.byteLength < 8)
    fail(`file is ${buf.byteLength} bytes, too short to hold the 8-byte header length (truncated?)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES)
    fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte cap (not a safetensors file?)`);
  if (8 + headerLen > buf.byteLength)
    fail(`header claims ${headerLen} bytes but the file has only ${buf.byteLength - 8} after the length (truncated?)`);
  const header = parseHeaderJson(buf.subarray(8, 8 + headerLen), fail);
  const dataStart = 8 + headerLen;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: TensorMap = new Map();
  for (const e of validateHeader(header, buf.byteLength - dataStart, fail)) {
    if (options.only && !options.only(e.name)) continue;
    if (!FLOAT_DTYPES.has(e.dtype)) continue; // integer buffers (e.g. position ids) are not weights we use
    const count = e.shape.reduce((a, b) => a * b, 1);
    tensors.set(e.name, {
      shape: e.shape,
      data: toFloat32(buf.subarray(dataStart + e.begin, dataStart + e.end), DTYPE_NAME[e.dtype], count),
    });
  }
  assertFiniteTensors(tensors, file);
  return { tensors, metadata };
}

const DTYPE_NAME: Record<string, WeightDType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/**
 * The float tensors of a safetensors file as byte ranges (header only; the data is not read), validated as above.
 * Offsets are absolute in the file; `file` is the real path (symlinks resolved).
 */
export function readSafetensorsEntries(path: string): { entries: WeightEntry[]; metadata: Record<string, string> } {
  const file = realpathSync(path);
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${path}: ${msg}`);
  };
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    if (size < 8) fail(`file is ${size} bytes, too short to hold the 8-byte header length (truncated?)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER_BYTES)
      fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte cap (not a safetensors file?)`);
    if (8 + headerLen > size)
      fail(`header claims ${headerLen} bytes but the file has only ${size - 8} after the length (truncated?)`);
    const hb = Buffer.alloc(headerLen);
    readSync(fd, hb, 0, headerLen, 8);
    const header = parseHeaderJson(hb, fail);
    const dataStart = 8 + headerLen;
    const entries: WeightEntry[] = [];
    for (const e of validateHeader(header, size - dataStart, fail)) {
      if (!FLOAT_DTYPES.has(e.dtype)) continue;
      entries.push({
        name: e.name,
        dtype: DTYPE_NAME[e.dtype],
        shape: e.shape,
        file,
        offset: dataStart + e.begin,
        length: e.end - e.begin,
      });
    }
    return { entries, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
  } finally {
    closeSync(fd);
  }
}

export function readSafetensorsFile(path: string, options: { only?: (name: string) => boolean } = {}): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path, options);
}

/**
 * The weight files of a Hugging Face folder: `model.safetensors`, or every shard listed in
 * `model.safetensors.index.json` (in name order, which is also the order the model hash reads them).
 */
export function modelWeightFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return [single];
  if (existsSync(index)) {
    let parsed: { weight_map?: Record<string, string> };
    try {
      parsed = JSON.parse(readFileSync(index, 'utf8'));
    } catch (e) {
      throw new SafetensorsError(`${index}: not valid JSON (${(e as Error).message})`);
    }
    const shards = [...new Set(Object.values(parsed.weight_map ?? {}))].sort();
    if (shards.length === 0) throw new SafetensorsError(`${index}: weight_map is empty`);
    return shards.map((shard) => {
      const path = join(dirname(index), shard);
      if (!existsSync(path)) throw new SafetensorsError(`${index} lists shard ${shard}, which is not in ${dir}`);
      return path;
    });
  }
  throw new SafetensorsError(`${dir} has neither model.safetensors nor model.safetensors.index.json`);
}

/** Every float tensor of a Hugging Face folder as byte ranges in its files (headers only). */
export function readModelWeightEntries(dir: string): WeightEntry[] {
  const out: WeightEntry[] = [];
  const seen = new Set<string>();
  for (const file of modelWeightFiles(dir)) {
    for (const e of readSafetensorsEntries(file).entries) {
      if (seen.has(e.name)) throw new SafetensorsError(`${file}: tensor "${e.name}" also appears in another shard`);
      seen.add(e.name);
      out.push(e);
    }
  }
  return out;
}

/** Writes float32 tensors and string metadata as a safetensors buffer. */
export function serializeSafetensors(
  tensors: Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Buffer {
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
