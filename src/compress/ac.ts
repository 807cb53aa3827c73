/**
 * Arithmetic coding driven by the frozen model (`compress --method ac`): each token is coded with the model's
 * next-token distribution given all tokens before it, so the payload is the model's code length Σ −log2 p(token)
 * plus the quantisation loss and 2 bits. The model runs through the incremental decode graph, one token per call
 * with batch 1, on encode and decode alike: the same computation, so the same probabilities, on the same backend.
 *
 * Coder: 32-bit integer arithmetic coding (Witten, Neal & Cleary 1987) with frequencies summing to at most 2^20
 * (every token gets at least 1, so any token can be coded); all products stay below 2^53, exact in doubles.
 *
 * File (`.ac`): the magic `CRAMAC\0\1`, a uint32 (LE) header length, a JSON header (model, hashes, token count, text
 * hash, backend), then the coded bits. Decoding checks the text's SHA-256, as for `.mem` files.
 */
import type * as OrtTypes from 'onnxruntime-node';
import type { CompiledModel } from '../cram/compiled-model.ts';
import { sha256 } from '../cram/vector-file.ts';
import { identityMismatch } from './file-model.ts';
import { CompressError, resolveModel, type ModelOption, type OpenModel } from './compress.ts';

export const AC_MAGIC = Buffer.from('CRAMAC\x00\x01', 'latin1');
const TOTAL_BITS = 20;
const TOTAL = 2 ** TOTAL_BITS;
const HALF = 2 ** 31;
const QUARTER = 2 ** 30;
const TOP = 2 ** 32 - 1;

export interface AcHeader {
  format: 'cramming-ac';
  version: 1;
  model: string;
  model_sha256: string;
  tokenizer_sha256: string;
  /** Coded tokens (BOS not counted). */
  n_tokens: number;
  /** Without BOS: the text's first token, stored as is (the model has nothing to predict it from). */
  first_token: number | null;
  text_chars: number;
  text_sha256: string;
  /** Bits of the coded payload actually used. */
  bits: number;
  backend: string;
}

export interface AcFile {
  header: AcHeader;
  payload: Buffer;
}

/** One token at a time through the decode graph (key/value cache), returning the logits after each token. */
class Stepper {
  private caches = new Map<string, OrtTypes.Tensor>();
  private past = 0;
  private constructor(
    private readonly compiled: CompiledModel,
    private readonly dec: Awaited<ReturnType<CompiledModel['decoder']>>,
  ) {}

  static async open(compiled: CompiledModel): Promise<Stepper> {
    const s = new Stepper(compiled, await compiled.decoder());
    const ort = compiled.runtime.ort;
    for (const c of s.dec.carried) {
      s.caches.set(
        c.name,
        new ort.Tensor(
          'float32',
          new Float32Array(0),
          c.dims.map((x, i) => (i === 0 ? 1 : typeof x === 'number' ? x : 0)),
        ),
      );
    }
    return s;
  }

  async feed(id: number): Promise<Float32Array> {
    if (this.past + 1 > this.compiled.model.maxPositions)
      throw new CompressError(
        `the text is longer than the model's ${this.compiled.model.maxPositions} positions; arithmetic coding here needs it to fit`,
      );
    const ort = this.compiled.runtime.ort;
    const feeds: Record<string, OrtTypes.Tensor> = {
      prefix: new ort.Tensor('float32', new Float32Array(0), [1, 0, this.compiled.embedDim]),
      ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(id)]), [1, 1]),
      past_length: new ort.Tensor('int64', BigInt64Array.from([BigInt(this.past)]), [1]),
    };
    for (const c of this.dec.carried) feeds[`past.${c.name}`] = this.caches.get(c.name)!;
    const r = await this.dec.session.run(feeds);
    this.past++;
    for (const c of this.dec.carried) this.caches.set(c.name, r[`present.${c.name}`]);
    const logits = Float32Array.from(r.logits.data as Float32Array);
    r.next.dispose?.();
    return logits;
  }
}

/** Cumulative integer frequencies [V + 1] from logits: 1 + ⌊p · (TOTAL − V)⌋ each. */
function cumulative(logits: Float32Array): Float64Array {
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  const e = new Float64Array(V);
  let z = 0;
  for (let i = 0; i < V; i++) {
    e[i] = Math.exp(logits[i] - max);
    z += e[i];
  }
  const cum = new Float64Array(V + 1);
  const spread = TOTAL - V;
  for (let i = 0; i < V; i++) cum[i + 1] = cum[i] + 1 + Math.floor((e[i] / z) * spread);
  return cum;
}

class BitWriter {
  private bytes: number[] = [];
  private cur = 0;
  private n = 0;
  bits = 0;
  put(b: number): void {
    this.cur = (this.cur << 1) | b;
    this.bits++;
    if (++this.n === 8) {
      this.bytes.push(this.cur);
      this.cur = 0;
      this.n = 0;
    }
  }
  done(): Buffer {
    if (this.n > 0) this.bytes.push(this.cur << (8 - this.n));
    return Buffer.from(this.bytes);
  }
}

/** Codes a text with the model; the text must round-trip through the tokenizer. */
export async function acEncode(text: string, options: ModelOption): Promise<AcFile> {
  const loaded = await resolveModel(options.model);
  const tok = loaded.tokenizer;
  if (!tok) throw new CompressError(`model ${loaded.name} was loaded without its tokenizer`);
  const ids = tok.encode(text);
  if (tok.decode(ids) !== text)
    throw new CompressError(
      `the ${loaded.name} tokenizer does not reproduce this text exactly; only texts it round-trips can be coded losslessly`,
    );
  const bos = tok.bosId !== null && ids[0] === tok.bosId;
  if (!bos && ids.length === 0) throw new CompressError('nothing to code: the text has no tokens');
  const stepper = await Stepper.open(loaded.compiled);
  const out = new BitWriter();
  let low = 0;
  let high = TOP;
  let pending = 0;
  const emit = (b: number) => {
    out.put(b);
    for (; pending > 0; pending--) out.put(1 - b);
  };
  for (let i = 1; i < ids.length; i++) {
    const cum = cumulative(await stepper.feed(ids[i - 1]));
    const s = ids[i];
    const range = high - low + 1;
    const total = cum[cum.length - 1];
    high = low + Math.floor((range * cum[s + 1]) / total) - 1;
    low = low + Math.floor((range * cum[s]) / total);
    for (;;) {
      if (high < HALF) emit(0);
      else if (low >= HALF) {
        emit(1);
        low -= HALF;
        high -= HALF;
      } else if (low >= QUARTER && high < 3 * QUARTER) {
        pending++;
        low -= QUARTER;
        high -= QUARTER;
      } else break;
      low *= 2;
      high = high * 2 + 1;
    }
  }
  pending++;
  emit(low < QUARTER ? 0 : 1);
  const header: AcHeader = {
    format: 'cramming-ac',
    version: 1,
    model: loaded.name,
    model_sha256: loaded.weightsSha256,
    tokenizer_sha256: tok.fingerprint,
    n_tokens: bos ? ids.length - 1 : ids.length,
    first_token: bos ? null : ids[0],
    text_chars: text.length,
    text_sha256: sha256(text),
    bits: out.bits,
    backend: loaded.compiled.runtime.name,
  };
  return { header, payload: out.done() };
}

/** Decodes; throws CompressError when the result does not hash to the stored SHA-256. */
export async function acDecode(file: AcFile, options: ModelOption): Promise<string> {
  const loaded: OpenModel = await resolveModel(options.model);
  const h = file.header;
  const tok = loaded.tokenizer;
  if (!tok) throw new CompressError(`model ${loaded.name} was loaded without its tokenizer`);
  validateAcHeader(h, file.payload.length, '.ac file');
  const differs = identityMismatch(
    '.ac file',
    { model: h.model, modelSha256: h.model_sha256, tokenizerSha256: h.tokenizer_sha256 },
    { model: loaded.name, modelSha256: loaded.weightsSha256, tokenizerSha256: tok.fingerprint },
    'coded with',
  );
  if (differs) throw new CompressError(differs);
  const vocab = loaded.model.numEmbeddings;
  if (h.first_token !== null && h.first_token >= vocab) {
    throw new CompressError(
      `.ac file: first_token ${h.first_token} is outside the vocabulary of "${loaded.name}" (${vocab} tokens): the file is damaged`,
    );
  }
  if (h.first_token === null && tok.bosId === null) {
    throw new CompressError(
      `.ac file: first_token is null but "${loaded.name}" has no BOS token to start from: the file is damaged`,
    );
  }
  if (h.n_tokens + 1 > loaded.model.maxPositions) {
    throw new CompressError(
      `.ac file: ${h.n_tokens} tokens are more than "${loaded.name}" takes (${loaded.model.maxPositions} positions): the file is damaged`,
    );
  }
  const stepper = await Stepper.open(loaded.compiled);
  const payload = file.payload;
  let pos = 0;
  const bit = () => {
    const b = pos < payload.length * 8 ? (payload[pos >> 3] >> (7 - (pos & 7))) & 1 : 0;
    pos++;
    return b;
  };
  let value = 0;
  for (let i = 0; i < 32; i++) value = value * 2 + bit();
  let low = 0;
  let high = TOP;
  const ids: number[] = [h.first_token ?? tok.bosId!];
  const toCode = h.first_token === null ? h.n_tokens : h.n_tokens - 1;
  for (let i = 0; i < toCode; i++) {
    const cum = cumulative(await stepper.feed(ids[ids.length - 1]));
    const range = high - low + 1;
    const total = cum[cum.length - 1];
    const count = Math.floor(((value - low + 1) * total - 1) / range);
    let lo = 0;
    let hi = cum.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cum[mid] <= count) lo = mid;
      else hi = mid - 1;
    }
    const s = lo;
    ids.push(s);
    high = low + Math.floor((range * cum[s + 1]) / total) - 1;
    low = low + Math.floor((range * cum[s]) / total);
    for (;;) {
      if (high < HALF) {
        /* nothing */
      } else if (low >= HALF) {
        low -= HALF;
        high -= HALF;
        value -= HALF;
      } else if (low >= QUARTER && high < 3 * QUARTER) {
        low -= QUARTER;
        high -= QUARTER;
        value -= QUARTER;
      } else break;
      low *= 2;
      high = high * 2 + 1;
      value = value * 2 + bit();
    }
  }
  const text = tok.decode(h.first_token === null ? ids.slice(1) : ids);
  if (sha256(text) !== h.text_sha256) {
    throw new CompressError(
      `arithmetic decoding did not give back the text (SHA-256 mismatch): the file is damaged, or this backend (${loaded.compiled.runtime.name}) computes differently from the one that coded it (${h.backend})`,
    );
  }
  if (text.length !== h.text_chars) {
    throw new CompressError(
      `decoded text matches the stored SHA-256 but has ${text.length} chars where the header's text_chars says ${h.text_chars}: the header was altered (the text itself is intact)`,
    );
  }
  return text;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Checks every header field's type and range (a damaged or forged header gets one line naming the field). */
export function validateAcHeader(header: unknown, payloadBytes: number, where: string): asserts header is AcHeader {
  const fail = (msg: string): never => {
    throw new CompressError(`${where}: ${msg}`);
  };
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return fail('header is not a JSON object');
  const h = header as Record<string, unknown>;
  if (h.format !== 'cramming-ac' || h.version !== 1)
    fail(`unsupported format ${JSON.stringify(h.format)} version ${JSON.stringify(h.version)}`);
  if (typeof h.model !== 'string' || h.model === '') fail('header field "model" should be a model name');
  for (const k of ['model_sha256', 'tokenizer_sha256', 'text_sha256']) {
    if (typeof h[k] !== 'string' || !HEX64.test(h[k] as string))
      fail(`header field "${k}" is not a SHA-256 hex digest`);
  }
  const count = (k: string, max: number) => {
    const v = h[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max)
      fail(`header field "${k}" ${JSON.stringify(v)} is not an integer in 0…${max}`);
    return v as number;
  };
  const tokens = count('n_tokens', 1 << 30);
  count('text_chars', (tokens + 1) * 1024);
  count('bits', payloadBytes * 8);
  if (
    h.first_token !== null &&
    (typeof h.first_token !== 'number' || !Number.isSafeInteger(h.first_token) || h.first_token < 0)
  ) {
    fail(`header field "first_token" ${JSON.stringify(h.first_token)} should be a token id or null`);
  }
  if (typeof h.backend !== 'string') fail('header field "backend" should be a string');
}

export function serializeAc(f: AcFile): Buffer {
  const header = Buffer.from(JSON.stringify(f.header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  return Buffer.concat([AC_MAGIC, len, header, f.payload]);
}

export function isAcFile(buf: Uint8Array): boolean {
  return buf.length >= AC_MAGIC.length && Buffer.from(buf.subarray(0, AC_MAGIC.length)).equals(AC_MAGIC);
}

export function parseAc(buf: Buffer, where = '<buffer>'): AcFile {
  if (!isAcFile(buf)) throw new CompressError(`${where}: not an arithmetic-coded file (magic CRAMAC missing)`);
  if (buf.length < AC_MAGIC.length + 4) throw new CompressError(`${where}: truncated header`);
  const n = buf.readUInt32LE(AC_MAGIC.length);
  const start = AC_MAGIC.length + 4;
  if (buf.length < start + n) throw new CompressError(`${where}: truncated header`);
  let header: AcHeader;
  try {
    header = JSON.parse(buf.subarray(start, start + n).toString('utf8')) as AcHeader;
  } catch (e) {
    throw new CompressError(`${where}: header is not valid JSON (${(e as Error).message})`);
  }
  validateAcHeader(header, buf.length - start - n, where);
  return { header, payload: buf.subarray(start + n) };
}
