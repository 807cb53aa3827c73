/**
 * A TypeScript port of llama2.c's tokenizer (run.c: `build_tokenizer`, `encode`, `decode`), for the tokenizer.bin /
 * tok512.bin files written by llama2.c's tokenizer.py export.
 *
 * File layout: int32 max_token_length, then for each of vocab_size tokens: float32 score, int32 len, `len` bytes.
 *
 * Everything works on bytes, as the C code does: a vocab entry is a byte string (BOS/EOS are stored as "\n<s>\n" and
 * "\n</s>\n", SentencePiece's "▁" as a plain space, byte-fallback tokens as "<0xXX>"), and lookups are exact byte
 * matches. Byte strings are held as latin1 JS strings (one char per byte) so they can key a Map and be concatenated.
 *
 * encode(text, bos, eos):
 *   1. optional BOS (1);
 *   2. if the text is non-empty, the dummy-prefix token for " ";
 *   3. each UTF-8 codepoint (run.c groups a lead byte with at most 3 continuation bytes) is looked up; if absent, each of
 *      its bytes becomes token (byte + 3);
 *   4. repeatedly merge the adjacent pair whose concatenation is in the vocab with the highest score (ties: leftmost
 *      pair; scores must exceed -1e10), until no pair merges. BOS takes part in the pair scan, as in run.c;
 *   5. optional EOS (2).
 * The merge loop here uses a heap instead of run.c's quadratic rescans; it picks exactly the same pair every step.
 *
 * decode(prev, token): the token's piece; if prev is BOS and the piece starts with a space, the space is dropped;
 * a piece "<0xXX>" stands for the raw byte XX.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TextTokenizer } from './text-tokenizer.ts';

export class Llama2cTokenizerError extends Error {}

const BOS_ID = 1;
const EOS_ID = 2;
/** run.c: `float best_score = -1e10;` a merge must score strictly above this. */
const MIN_MERGE_SCORE = -1e10;
/** run.c's sscanf(piece, "<0x%02hhX>", ...) : "<0x" followed by one or two hex digits. */
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{1,2})/;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

function bytesToKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export interface EncodeOptions {
  bos?: boolean;
  eos?: boolean;
}

export class Llama2cTokenizer {
  readonly bosId = BOS_ID;
  readonly eosId = EOS_ID;
  readonly vocabSize: number;
  readonly maxTokenLength: number;
  /** Vocab entries as raw bytes. */
  private readonly pieces: Uint8Array[];
  /** Vocab entries as latin1 strings (one char per byte), for concatenation and lookup. */
  private readonly keys: string[];
  private readonly scores: Float32Array;
  private readonly lookup: Map<string, number>;
  /** For each id, the raw byte it decodes to when its piece is a byte-fallback piece "<0xXX>", else -1. */
  private readonly byteValue: Int16Array;

  private constructor(pieces: Uint8Array[], scores: Float32Array, maxTokenLength: number) {
    this.vocabSize = pieces.length;
    this.maxTokenLength = maxTokenLength;
    this.pieces = pieces;
    this.scores = scores;
    this.keys = pieces.map(bytesToKey);
    this.lookup = new Map();
    // run.c looks strings up by binary search over the sorted vocab; with duplicate entries (none in practice) it could
    // return any of them. Here the first id wins.
    this.keys.forEach((k, i) => {
      if (!this.lookup.has(k)) this.lookup.set(k, i);
    });
    this.byteValue = new Int16Array(pieces.length).fill(-1);
    this.keys.forEach((k, i) => {
      const m = BYTE_PIECE.exec(k);
      if (m) this.byteValue[i] = parseInt(m[1], 16);
    });
  }

  /** Load tok512.bin / tokenizer.bin. `vocabSize` must match the model's (the file does not record it). */
  static fromFile(path: string, vocabSize: number): Llama2cTokenizer {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new Llama2cTokenizerError(`${path}: cannot read llama2.c tokenizer (${(e as Error).message})`);
    }
    return Llama2cTokenizer.fromBuffer(buf, vocabSize, path);
  }

  static fromBuffer(buf: Uint8Array, vocabSize: number, file = '<buffer>'): Llama2cTokenizer {
    const fail = (msg: string): never => {
      throw new Llama2cTokenizerError(`${file}: ${msg}`);
    };
    if (!Number.isInteger(vocabSize) || vocabSize < 3)
      fail(`vocab size ${vocabSize} must be an integer >= 3 (BOS is 1, EOS is 2)`);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.byteLength < 4)
      fail(`file is ${buf.byteLength} bytes, too short for the max_token_length header (truncated?)`);
    const maxTokenLength = view.getInt32(0, true);
    if (maxTokenLength <= 0) fail(`max_token_length is ${maxTokenLength}; not a llama2.c tokenizer file?`);
    const pieces: Uint8Array[] = [];
    const scores = new Float32Array(vocabSize);
    let offset = 4;
    for (let i = 0; i < vocabSize; i++) {
      if (offset + 8 > buf.byteLength) {
        fail(
          `file ends at byte ${buf.byteLength} while reading token ${i} of ${vocabSize} (truncated, or the vocab size is too large?)`,
        );
      }
      scores[i] = view.getFloat32(offset, true);
      const len = view.getInt32(offset + 4, true);
      offset += 8;
      if (len < 0 || len > maxTokenLength)
        fail(`token ${i} has length ${len}, outside 0..max_token_length=${maxTokenLength} (corrupt file?)`);
      if (offset + len > buf.byteLength)
        fail(
          `token ${i} of ${vocabSize} needs ${len} bytes at byte ${offset} but the file ends at ${buf.byteLength} (truncated?)`,
        );
      pieces.push(Uint8Array.prototype.slice.call(buf, offset, offset + len));
      offset += len;
    }
    if (offset !== buf.byteLength) {
      fail(
        `${buf.byteLength - offset} bytes remain after ${vocabSize} tokens; the vocab size does not match this tokenizer file`,
      );
    }
    return new Llama2cTokenizer(pieces, scores, maxTokenLength);
  }

  /** llama2.c `encode(text, bos, eos)`. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const tokens: number[] = [];
    if (opts.bos) tokens.push(BOS_ID);
    const bytes = utf8Encoder.encode(text);
    if (bytes.length > 0) {
      const prefix = this.lookup.get(' ');
      if (prefix === undefined) throw new Llama2cTokenizerError('the vocab has no " " token for the dummy prefix');
      tokens.push(prefix);
    }
    // Codepoint by codepoint, grouping as run.c does: a non-continuation byte starts a group; continuation bytes join
    // it until the group holds 4 bytes.
    let len = 0;
    for (let i = 0; i < bytes.length; i++) {
      if ((bytes[i] & 0xc0) !== 0x80) len = 0;
      len++;
      const next = i + 1 < bytes.length ? bytes[i + 1] : 0;
      if ((next & 0xc0) === 0x80 && len < 4) continue;
      const group = bytes.subarray(i + 1 - len, i + 1);
      const id = this.lookup.get(bytesToKey(group));
      if (id !== undefined) tokens.push(id);
      else for (const b of group) tokens.push(b + 3);
      len = 0;
    }
    const merged = this.mergePairs(tokens);
    if (opts.eos) merged.push(EOS_ID);
    return merged;
  }

  /**
   * run.c's merge loop: while some adjacent pair's concatenation is in the vocab, merge the pair with the highest score
   * (strictly above -1e10; ties go to the leftmost pair). Done with a doubly linked list and a lazy max-heap.
   */
  private mergePairs(input: number[]): number[] {
    const n = input.length;
    if (n < 2) return input.slice();
    const tok = Int32Array.from(input);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    // Heap entries: [score, left position, left token, right token, merged id]. Stale entries (either side changed) are
    // skipped when popped. Left positions are original indices, whose order matches the current order of the sequence.
    type Entry = { score: number; pos: number; left: number; right: number; id: number };
    const heap: Entry[] = [];
    const better = (a: Entry, b: Entry) => a.score > b.score || (a.score === b.score && a.pos < b.pos);
    const push = (e: Entry) => {
      heap.push(e);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!better(heap[i], heap[p])) break;
        [heap[i], heap[p]] = [heap[p], heap[i]];
        i = p;
      }
    };
    const pop = (): Entry => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1,
            r = l + 1;
          let m = i;
          if (l < heap.length && better(heap[l], heap[m])) m = l;
          if (r < heap.length && better(heap[r], heap[m])) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      }
      return top;
    };
    const consider = (i: number) => {
      const j = next[i];
      if (i < 0 || j < 0) return;
      const id = this.lookup.get(this.keys[tok[i]] + this.keys[tok[j]]);
      if (id === undefined) return;
      const score = this.scores[id];
      if (!(score > MIN_MERGE_SCORE)) return;
      push({ score, pos: i, left: tok[i], right: tok[j], id });
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.length > 0) {
      const e = pop();
      const i = e.pos;
      const j = next[i];
      if (!alive[i] || j < 0 || tok[i] !== e.left || tok[j] !== e.right) continue; // stale
      tok[i] = e.id;
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(tok[i]);
    return out;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new Llama2cTokenizerError(`token id ${id} is outside the vocab (0..${this.vocabSize - 1})`);
    }
  }

  /** The raw vocab entry of a token (no decode rules applied), as bytes. */
  pieceBytes(id: number): Uint8Array {
    this.checkId(id);
    return this.pieces[id];
  }

  /** llama2.c `decode(prev, token)` as bytes: drop a leading space after BOS; "<0xXX>" is the raw byte XX. */
  decodeTokenBytes(prev: number, id: number): Uint8Array {
    this.checkId(id);
    let piece = this.pieces[id];
    if (prev === BOS_ID && piece.length > 0 && piece[0] === 0x20) piece = piece.subarray(1);
    // run.c tests the piece after stripping; a byte piece never starts with a space, so using the precomputed value
    // is equivalent unless the piece was " <0x..>", which we then check directly.
    const b = piece === this.pieces[id] ? this.byteValue[id] : byteOf(piece);
    return b >= 0 ? Uint8Array.of(b) : piece;
  }

  /**
   * llama2.c `decode(prev, token)` as a string. A lone byte-fallback byte that is part of a multi-byte UTF-8 character
   * cannot be shown on its own and becomes U+FFFD here; use `decode(ids)` (or `decodeTokenBytes`) for whole text.
   */
  decodeToken(prev: number, id: number): string {
    return utf8Decoder.decode(this.decodeTokenBytes(prev, id));
  }

  /**
   * Decode a list of ids to text: each token is decoded with llama2.c's rules given the id before it (the first token's
   * predecessor is `opts.prev`, default none), BOS and EOS produce no text, and the bytes of all pieces are joined
   * before UTF-8 decoding, so byte-fallback sequences become the original characters.
   * Note: as in llama2.c, only a token right after BOS loses its leading space; `decode(encode(t, {bos: true}))`
   * returns `t`, while ids without BOS in front decode with the dummy-prefix space (pass `{prev: 1}` to drop it).
   */
  decode(ids: number[], opts: { prev?: number } = {}): string {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let prev = opts.prev ?? -1;
    for (const id of ids) {
      this.checkId(id);
      if (id !== BOS_ID && id !== EOS_ID) {
        const piece = this.decodeTokenBytes(prev, id);
        chunks.push(piece);
        total += piece.length;
      }
      prev = id;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return utf8Decoder.decode(all);
  }
}

function byteOf(piece: Uint8Array): number {
  const m = BYTE_PIECE.exec(bytesToKey(piece));
  return m ? parseInt(m[1], 16) : -1;
}

/** llama2.c's tokenizer behind the TextTokenizer interface: BOS added, as llama2.c's run does; fingerprint = file hash. */
export function llama2cTextTokenizer(file: string, vocabSize: number): TextTokenizer {
  const tok = Llama2cTokenizer.fromFile(file, vocabSize);
  const fingerprint = createHash('sha256').update(readFileSync(file)).digest('hex');
  return {
    encode: (text) => tok.encode(text, { bos: true, eos: false }),
    decode: (ids) => tok.decode(ids),
    bosId: tok.bosId,
    eosId: tok.eosId,
    fingerprint,
  };
}
