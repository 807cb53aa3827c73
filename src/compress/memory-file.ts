/**
 * The `.mem` file: a text compressed into trained [mem] vectors of one frozen model.
 *
 * On disk it is safetensors: one float32 tensor per segment (`seg0`, `seg1`, …, each [K_i, d]) and string metadata:
 *   format            "cramming-memory"
 *   format_version    "1"
 *   model             model folder name (e.g. "gutenberg-llama-s")
 *   model_sha256      SHA-256 of the model's weight bytes
 *   tokenizer_sha256  the tokenizer's fingerprint (SHA-256 of its files)
 *   embed_dim         d
 *   n_segments        number of seg<i> tensors
 *   n_tokens          tokens of the text (BOS not counted)
 *   text_chars        length of the text in UTF-16 code units (JS string length)
 *   text_sha256       SHA-256 of the text's UTF-8 bytes
 *   vectors_sha256    SHA-256 of the data section (all tensors, in order): detects flipped bytes in the vectors
 *   segments          JSON array, one entry per segment: {k, tokens, ids_sha256, bos, first_token}
 *                       k: vectors, tokens: predicted tokens, ids_sha256: hash of the segment's ids (given token
 *                       included), bos: whether the given first token is BOS, first_token: the given token's id
 *   settings          JSON object: creation settings (segment length, steps, lr, seed, …)
 *   stats             JSON object: what compressing took (rounds, steps, seconds)
 *   created           ISO timestamp
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseSafetensors, serializeSafetensors } from '../models/safetensors.ts';
import { sha256 } from '../cram/vector-file.ts';

export const MEMORY_FORMAT = 'cramming-memory';
export const MEMORY_FORMAT_VERSION = 1;

export class MemoryFileError extends Error {}

export interface MemorySegment {
  /** K: number of vectors. */
  nMem: number;
  /** Predicted tokens (the given first token not counted). */
  nTokens: number;
  /** SHA-256 of the segment's ids, given first token included (ids joined by ","). */
  idsSha256: string;
  /** The given first token is BOS (else it is the text's own token, for tokenizers without BOS). */
  startsWithBos: boolean;
  /** Id of the given first token. */
  firstToken: number;
  /** [K × d] row-major. */
  vectors: Float32Array;
}

export interface MemoryFile {
  format: typeof MEMORY_FORMAT;
  version: number;
  model: string;
  modelSha256: string;
  tokenizerSha256: string;
  embedDim: number;
  /** Tokens of the whole text, BOS not counted. */
  nTokens: number;
  textChars: number;
  textSha256: string;
  segments: MemorySegment[];
  settings: Record<string, string | number | boolean>;
  stats: Record<string, string | number | boolean>;
  created: string;
}

export function totalVectors(mf: MemoryFile): number {
  return mf.segments.reduce((a, s) => a + s.nMem, 0);
}

function dataBytes(segments: MemorySegment[]): Uint8Array {
  const total = segments.reduce((a, s) => a + s.vectors.byteLength, 0);
  const out = new Uint8Array(total);
  let pos = 0;
  for (const s of segments) {
    out.set(new Uint8Array(s.vectors.buffer, s.vectors.byteOffset, s.vectors.byteLength), pos);
    pos += s.vectors.byteLength;
  }
  return out;
}

/**
 * Most tokens K vectors of d float32 numbers can hold: every token needs at least one bit, so K·d·32. A file claiming
 * more is corrupt or forged (and would make decompression generate for ever).
 */
export function maxTokensFor(nMem: number, embedDim: number): number {
  return nMem * embedDim * 32;
}

/** Most characters one token decodes to, for the text_chars bound (byte-level BPE tokens are a few to ~100 chars). */
const MAX_CHARS_PER_TOKEN = 1024;

/**
 * Checks a MemoryFile object's internal consistency (shapes, counts, finite vectors) and that its counts are possible
 * for its size: a segment cannot hold more tokens than its vectors have bits, a text cannot have more characters than
 * its tokens can decode to.
 */
export function validateMemoryFile(mf: MemoryFile, where = '<memory file>'): void {
  const fail = (msg: string): never => {
    throw new MemoryFileError(`${where}: ${msg}`);
  };
  if (mf.format !== MEMORY_FORMAT) fail(`format is "${mf.format}", expected "${MEMORY_FORMAT}"`);
  if (mf.version !== MEMORY_FORMAT_VERSION)
    fail(`format version ${mf.version} is not supported (this build reads version ${MEMORY_FORMAT_VERSION})`);
  if (typeof mf.model !== 'string' || mf.model === '' || mf.model.length > 200 || /[\u0000-\u001f]/.test(mf.model)) {
    fail(`model ${JSON.stringify(mf.model)?.slice(0, 60)} is not a model name`);
  }
  if (
    (/[\\/]/.test(mf.model) && !/^[\w.-]+\/[\w.-]+$/.test(mf.model)) ||
    mf.model === '.' ||
    mf.model === '..' ||
    mf.model.includes('..')
  ) {
    fail(
      `names its model by the path ${JSON.stringify(mf.model)}, not by name: a file never chooses which folder is loaded (edited or forged file)`,
    );
  }
  if (!Number.isInteger(mf.embedDim) || mf.embedDim < 1) fail(`bad embed_dim ${mf.embedDim}`);
  if (!Number.isInteger(mf.nTokens) || mf.nTokens < 0) fail(`bad n_tokens ${mf.nTokens}`);
  if (!Number.isInteger(mf.textChars) || mf.textChars < 0) fail(`bad text_chars ${mf.textChars}`);
  for (const [k, v] of [
    ['model_sha256', mf.modelSha256],
    ['tokenizer_sha256', mf.tokenizerSha256],
    ['text_sha256', mf.textSha256],
  ] as const) {
    if (!/^[0-9a-f]{64}$/.test(v)) fail(`${k} is not a SHA-256 hex digest: "${v}"`);
  }
  mf.segments.forEach((s, i) => {
    if (!Number.isInteger(s.nMem) || s.nMem < 1) fail(`segment ${i}: bad K ${s.nMem}`);
    if (!Number.isInteger(s.nTokens) || s.nTokens < 1) fail(`segment ${i}: bad token count ${s.nTokens}`);
    if (Number.isInteger(s.nMem) && s.nTokens > maxTokensFor(s.nMem, mf.embedDim)) {
      fail(
        `segment ${i} claims ${s.nTokens} tokens from ${s.nMem} vector(s) of ${mf.embedDim} numbers, more than they can hold (at most ${maxTokensFor(s.nMem, mf.embedDim)}): the file is corrupt or forged`,
      );
    }
    if (!Number.isInteger(s.firstToken) || s.firstToken < 0) fail(`segment ${i}: bad first token id ${s.firstToken}`);
    if (!/^[0-9a-f]{64}$/.test(s.idsSha256)) fail(`segment ${i}: ids_sha256 is not a SHA-256 hex digest`);
    if (s.vectors.length !== s.nMem * mf.embedDim)
      fail(`segment ${i}: ${s.vectors.length} numbers, expected K × d = ${s.nMem} × ${mf.embedDim}`);
    for (let j = 0; j < s.vectors.length; j++)
      if (!Number.isFinite(s.vectors[j])) fail(`segment ${i}: vector value ${j} is ${s.vectors[j]} (corrupted?)`);
  });
  if (mf.textChars > (mf.nTokens + 1) * MAX_CHARS_PER_TOKEN) {
    fail(
      `text_chars ${mf.textChars} is impossible for ${mf.nTokens} tokens (at most ${MAX_CHARS_PER_TOKEN} characters per token): the file is corrupt or forged`,
    );
  }
  const predicted = mf.segments.reduce((a, s) => a + s.nTokens, 0);
  const bos = mf.segments[0]?.startsWithBos ?? true;
  // With BOS every text token is predicted; without, the first text token is given and the rest predicted.
  const expected = mf.nTokens === 0 ? 0 : bos ? mf.nTokens : mf.nTokens - 1;
  if (predicted !== expected)
    fail(
      `segments predict ${predicted} tokens in all but the text has ${mf.nTokens}${bos ? '' : ' (first one given)'}`,
    );
}

/** What a .mem file needs from the model it is opened with (from config.json alone, or the loaded model). */
export interface MemoryModelFacts {
  name: string;
  embedDim: number;
  maxPositions: number;
  vocabSize: number;
}

/**
 * Checks a valid .mem file against the model it will be decompressed with (vector width, positions, first tokens):
 * decompress runs it before loading the model, and `store add` runs it for a model it can find by name, so the store
 * refuses what decompress would refuse.
 */
export function validateForModel(mf: MemoryFile, m: MemoryModelFacts, where = 'this .mem file'): void {
  const fail = (msg: string): never => {
    throw new MemoryFileError(`${where}: ${msg}`);
  };
  if (m.embedDim > 0 && mf.embedDim !== m.embedDim)
    fail(
      mf.model === m.name
        ? `holds ${mf.embedDim}-dim vectors but "${m.name}" embeds in ${m.embedDim} dims (same name, another model?)`
        : `holds ${mf.embedDim}-dim vectors made for model "${mf.model}", not for "${m.name}", which embeds in ` +
            `${m.embedDim} dims; pass --model <the folder of ${mf.model}>`,
    );
  for (const [i, s] of mf.segments.entries()) {
    if (s.nMem + 1 + s.nTokens > m.maxPositions) {
      fail(
        `segment ${i} needs ${s.nMem} vectors + ${s.nTokens + 1} tokens = ${s.nMem + 1 + s.nTokens} positions, ` +
          `but "${m.name}" takes ${m.maxPositions}: the file is corrupt or was not made by compress`,
      );
    }
    if (s.firstToken >= m.vocabSize)
      fail(`segment ${i}: first token ${s.firstToken} is outside the vocabulary of "${m.name}" (${m.vocabSize})`);
  }
}

export function serializeMemoryFile(mf: MemoryFile): Buffer {
  validateMemoryFile(mf);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  mf.segments.forEach((s, i) => {
    tensors[`seg${i}`] = { shape: [s.nMem, mf.embedDim], data: s.vectors };
  });
  const metadata: Record<string, string> = {
    format: MEMORY_FORMAT,
    format_version: String(mf.version),
    model: mf.model,
    model_sha256: mf.modelSha256,
    tokenizer_sha256: mf.tokenizerSha256,
    embed_dim: String(mf.embedDim),
    n_segments: String(mf.segments.length),
    n_tokens: String(mf.nTokens),
    text_chars: String(mf.textChars),
    text_sha256: mf.textSha256,
    vectors_sha256: sha256(dataBytes(mf.segments)),
    segments: JSON.stringify(
      mf.segments.map((s) => ({
        k: s.nMem,
        tokens: s.nTokens,
        ids_sha256: s.idsSha256,
        bos: s.startsWithBos,
        first_token: s.firstToken,
      })),
    ),
    settings: JSON.stringify(mf.settings),
    stats: JSON.stringify(mf.stats),
    created: mf.created,
  };
  return serializeSafetensors(tensors, metadata);
}

function jsonField<T>(metadata: Record<string, string>, key: string, fail: (m: string) => never): T {
  const raw = metadata[key];
  if (raw === undefined) fail(`metadata field "${key}" is missing`);
  try {
    return JSON.parse(raw) as T;
  } catch (e) {
    return fail(`metadata field "${key}" is not valid JSON (${(e as Error).message})`);
  }
}

function intField(metadata: Record<string, string>, key: string, fail: (m: string) => never): number {
  const raw = metadata[key];
  if (raw === undefined) fail(`metadata field "${key}" is missing`);
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    fail(`metadata field "${key}" is not a non-negative integer: "${raw}"`);
  return n;
}

/** Parses and validates a .mem buffer. Every failure is a MemoryFileError naming the file and what is wrong. */
export function parseMemoryFile(buf: Uint8Array, where = '<buffer>'): MemoryFile {
  const fail = (msg: string): never => {
    throw new MemoryFileError(`${where}: ${msg}`);
  };
  let parsed: ReturnType<typeof parseSafetensors>;
  try {
    parsed = parseSafetensors(buf, where);
  } catch (e) {
    return fail(`not a readable .mem file: ${(e as Error).message.replace(`${where}: `, '')}`);
  }
  const { tensors, metadata } = parsed;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    fail('safetensors metadata is not an object');
  if (metadata.format !== MEMORY_FORMAT) {
    fail(
      `not a .mem file: metadata format is ${metadata.format === undefined ? 'missing' : `"${metadata.format}"`}, expected "${MEMORY_FORMAT}"`,
    );
  }
  const version = intField(metadata, 'format_version', fail);
  if (version !== MEMORY_FORMAT_VERSION)
    fail(`.mem format version ${version} is not supported (this build reads version ${MEMORY_FORMAT_VERSION})`);
  const embedDim = intField(metadata, 'embed_dim', fail);
  const nSegments = intField(metadata, 'n_segments', fail);
  const segMeta = jsonField<unknown>(metadata, 'segments', fail);
  if (!Array.isArray(segMeta) || segMeta.length !== nSegments)
    fail(`metadata "segments" should be an array of ${nSegments} entries`);
  // The data section must be exactly the tensors: nothing missing (truncation), nothing appended.
  const headerLen = Number(new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true));
  let expectedData = 0;
  for (let i = 0; i < nSegments; i++) {
    const e = (segMeta as Record<string, unknown>[])[i];
    if (typeof e !== 'object' || e === null) fail(`metadata segment ${i} is not an object`);
    const k = Number(e.k);
    if (!Number.isInteger(k) || k < 1) fail(`metadata segment ${i}: bad k ${String(e.k)}`);
    expectedData += k * embedDim * 4;
  }
  const actualData = buf.byteLength - 8 - headerLen;
  if (actualData !== expectedData) {
    fail(
      `data section is ${actualData} bytes but the segments need ${expectedData} (${actualData < expectedData ? 'truncated' : 'trailing bytes'}; corrupted file?)`,
    );
  }
  const extra = [...tensors.keys()].filter((n) => !/^seg\d+$/.test(n) || Number(n.slice(3)) >= nSegments);
  if (extra.length) fail(`unexpected tensor(s) ${extra.join(', ')}`);
  const segments: MemorySegment[] = [];
  for (let i = 0; i < nSegments; i++) {
    const e = (segMeta as Record<string, unknown>[])[i];
    const t = tensors.get(`seg${i}`);
    if (!t) fail(`tensor seg${i} is missing`);
    if (t!.shape.length !== 2 || t!.shape[0] !== Number(e.k) || t!.shape[1] !== embedDim) {
      fail(`tensor seg${i} has shape [${t!.shape}] but metadata says [${String(e.k)}, ${embedDim}]`);
    }
    if (typeof e.bos !== 'boolean') fail(`metadata segment ${i}: "bos" should be true or false`);
    segments.push({
      nMem: Number(e.k),
      nTokens: Number(e.tokens),
      idsSha256: String(e.ids_sha256),
      startsWithBos: e.bos as boolean,
      firstToken: Number(e.first_token),
      vectors: t!.data,
    });
  }
  const stored = metadata.vectors_sha256;
  if (stored === undefined) fail('metadata field "vectors_sha256" is missing');
  const actual = sha256(dataBytes(segments));
  if (actual !== stored)
    fail(
      `vector data checksum mismatch (stored ${stored.slice(0, 12)}…, computed ${actual.slice(0, 12)}…): the file is corrupted`,
    );
  const obj = (key: string) => {
    const v = jsonField<unknown>(metadata, key, fail);
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      fail(`metadata field "${key}" should be a JSON object`);
    return v as Record<string, string | number | boolean>;
  };
  const mf: MemoryFile = {
    format: MEMORY_FORMAT,
    version,
    model: metadata.model ?? '',
    modelSha256: metadata.model_sha256 ?? '',
    tokenizerSha256: metadata.tokenizer_sha256 ?? '',
    embedDim,
    nTokens: intField(metadata, 'n_tokens', fail),
    textChars: intField(metadata, 'text_chars', fail),
    textSha256: metadata.text_sha256 ?? '',
    segments,
    settings: obj('settings'),
    stats: obj('stats'),
    created: metadata.created ?? '',
  };
  if (!mf.model) fail('metadata field "model" is missing');
  validateMemoryFile(mf, where);
  return mf;
}

/** Writes atomically (temp file + rename). */
export function writeMemoryFile(path: string, mf: MemoryFile): number {
  const buf = serializeMemoryFile(mf);
  writeFileSync(`${path}.tmp`, buf);
  renameSync(`${path}.tmp`, path);
  return buf.byteLength;
}

export function readMemoryFile(path: string): MemoryFile {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new MemoryFileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseMemoryFile(buf, path);
}
