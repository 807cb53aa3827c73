/**
 * Reading and writing the harness's own files with errors that name the file and the cause: JSON that is truncated
 * or not JSON, text that is not valid UTF-8, an output folder that does not exist. Writes are atomic (temp + rename),
 * so a crash or a full disk never leaves half a file under the final name.
 */
import { accessSync, constants, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export const TEXT_ENCODINGS = ['utf8', 'latin1'] as const;
export type TextEncodingName = (typeof TEXT_ENCODINGS)[number];

/** The first few characters of a value for an error message (a binary file must not print 10 KB of itself). */
export function excerpt(s: string, n = 60): string {
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '·');
  return JSON.stringify(flat.length > n ? `${flat.slice(0, n)}…` : flat);
}

/** A JSON file, parsed; `what` says what the file is for ("model config", "tokenizer"). */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const python = withoutPythonConstants(text);
    if (python !== null) {
      try {
        return JSON.parse(python);
      } catch {
        /* report the original error */
      }
    }
    const hint =
      text.trim() === ''
        ? 'the file is empty'
        : looksBinary(text)
          ? 'the file is not text'
          : (e as Error).message.split('\n')[0];
    throw new Error(`${what} ${path} is not valid JSON (${hint}); restore the original file`);
  }
}

/**
 * Python's json module writes inf and nan as bare Infinity, -Infinity and NaN (transformers' config.json files have
 * them, e.g. Mamba-2's time_step_limit [0.0, Infinity]). Outside strings they become 1e999 / -1e999 (parsed as
 * ±Infinity) and null; null when the text has none.
 */
function withoutPythonConstants(text: string): string | null {
  if (!/Infinity|NaN/.test(text)) return null;
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (text.startsWith('Infinity', i)) {
      out += '1e999';
      i += 7;
    } else if (text.startsWith('NaN', i)) {
      out += 'null';
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

/** A JSON object file (what config.json and tokenizer.json must be). */
export function readJsonObject(path: string, what: string): Record<string, unknown> {
  const v = readJsonFile(path, what);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new Error(
      `${what} ${path} should hold a JSON object, not ${Array.isArray(v) ? 'an array' : excerpt(JSON.stringify(v) ?? String(v))}`,
    );
  }
  return v as Record<string, unknown>;
}

export function looksBinary(text: string): boolean {
  const sample = text.slice(0, 4096);
  return /\u0000/.test(sample) || (sample.match(/\ufffd/g)?.length ?? 0) > sample.length / 20;
}

/**
 * A text file, decoded strictly: bytes that are not UTF-8 are an error naming the byte offset (instead of silently
 * becoming U+FFFD), unless the caller asks for Latin-1. A UTF-8 byte-order mark is dropped.
 */
export function readTextFile(path: string, encoding: TextEncodingName = 'utf8', what = 'text file'): string {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  if (encoding === 'latin1') return buf.toString('latin1');
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    const at = firstInvalidUtf8(buf);
    throw new Error(
      `${what} ${path} is not valid UTF-8 (first bad byte 0x${buf[at]?.toString(16).padStart(2, '0')} at offset ${at}); ` +
        'convert it to UTF-8, or if it is Latin-1 (ISO-8859-1) say so with --encoding latin1 (or encoding: latin1 on a file source)',
    );
  }
}

function firstInvalidUtf8(buf: Uint8Array): number {
  let lo = 0;
  let hi = buf.length;
  // The longest valid prefix ends within 3 bytes of the bad byte; bisect on "prefix decodes", allowing a cut sequence.
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  // A prefix that only decodes in streaming mode ends in an incomplete sequence: the fault is at that sequence's lead byte.
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, lo));
    return Math.min(lo, buf.length - 1);
  } catch {
    let j = lo - 1;
    while (j > lo - 4 && j > 0 && (buf[j] & 0xc0) === 0x80) j--;
    return j;
  }
}

/** Writes a file atomically: to `<path>.tmp-<pid>`, then rename. A failed write removes the temp file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Fails now, before any work, when `path` cannot be written later: its folder must exist and be writable, and the
 * path must not be a folder. `flag` names the option in the message (e.g. "--out").
 */
export function checkWritableTarget(path: string, flag: string): void {
  const target = resolve(path);
  const dir = dirname(target);
  if (!existsSync(dir)) throw new Error(`${flag} ${path}: folder ${dir} does not exist; create it first`);
  if (!statSync(dir).isDirectory()) throw new Error(`${flag} ${path}: ${dir} is not a folder`);
  if (existsSync(target) && statSync(target).isDirectory())
    throw new Error(`${flag} ${path} is a folder; give a file name`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`${flag} ${path}: folder ${dir} is not writable`);
  }
}
