/** Test helpers for the memory service: a tiny JSON client, polling, and short texts the tokenizer round-trips. */
import { readFileSync } from 'node:fs';
import { fixture } from '../../helpers.ts';
import type { TextTokenizer } from '../../../src/tokenizer/text-tokenizer.ts';

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
}

export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const r = await fetch(`${base}${path}`, init);
  const text = await r.text();
  let json: unknown = null;
  if (text !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
  }
  return { status: r.status, headers: r.headers, json };
}

/** Polls a memory until it is done or failed (or the deadline passes). */
export async function waitFor(
  base: string,
  id: string,
  opts: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const r = await api(base, 'GET', `/v1/memories/${id}`, undefined, opts.headers);
    if (r.status !== 200 || r.json.status === 'done' || r.json.status === 'failed') return r;
    if (Date.now() > deadline)
      throw new Error(`${id} still ${r.json.status} after ${opts.timeoutMs ?? 120_000} ms: ${JSON.stringify(r.json)}`);
    await new Promise((res) => setTimeout(res, 150));
  }
}

/** Consecutive pieces of the held-out passage, whole words, of `min`–`max` tokens each, that the tokenizer reproduces exactly. */
export function snippets(tok: TextTokenizer, min: number, max: number): string[] {
  const words = readFileSync(fixture('heldout-passage.txt'), 'utf8').split(' ');
  const out: string[] = [];
  let cur: string[] = [];
  const tokens = (s: string) => tok.encode(s).length - 1;
  for (const w of words) {
    cur.push(w);
    const s = cur.join(' ');
    if (tokens(s) > max) {
      cur = [w];
      continue;
    }
    if (tokens(s) >= min && tok.decode(tok.encode(s)) === s) {
      out.push(s);
      cur = [];
    }
  }
  return out;
}
