/**
 * Test helpers for the memory service: servers in-process with small limits, `cram serve` as a child process, a tiny
 * JSON client, polling, and short texts the tokenizer round-trips.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fixture } from '../../helpers.ts';
import type { TextTokenizer } from '../../../src/tokenizer/text-tokenizer.ts';
import { createServer, SERVE_DEFAULTS, type ServeOptions, type Server } from '../../../src/serve/app.ts';

/** Small step limits, one sequence per text (the server's default layout). */
export const FAST = {
  segmentTokens: SERVE_DEFAULTS.segmentTokens,
  tokensPerVector: 2,
  maxSteps: 300,
  patience: 100,
  seed: 0,
};

/** A test server's options: small limits on bodies, texts, the queue and waiting; `over` replaces fields. */
export function serveOptions(
  model: ServeOptions['model'],
  over: Partial<Omit<ServeOptions, 'worker'>> & { store: string; worker?: Partial<ServeOptions['worker']> },
): ServeOptions {
  const { worker, ...rest } = over;
  return {
    model,
    bodyLimit: 64 * 1024,
    maxTextTokens: 256,
    maxQueue: 64,
    maxNewTokens: 64,
    maxWaiting: 8,
    session: { thresholdTokens: 30, keepTokens: 12, maxChunkTokens: 256 },
    ...rest,
    worker: { compress: FAST, batchTexts: 8, batchTokens: SERVE_DEFAULTS.batchTokens, batchWaitMs: 100, ...worker },
  };
}

/** A server in this process, listening on a free loopback port. */
export async function startServer(options: ServeOptions): Promise<{ server: Server; base: string }> {
  const server = await createServer(options);
  return { server, base: await server.app.listen({ port: 0, host: '127.0.0.1' }) };
}

/** `cram serve`'s flags for FAST: two tokens per vector, small step limits. */
export const FAST_FLAGS = ['--tokens-per-vector', '2', '--max-steps', '300', '--patience', '100'];

export interface ServeChild {
  proc: ChildProcess;
  base: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * `cram serve --model gutenberg-llama-s --port 0 --store <store> --backend cpu` and `args` as a child process,
 * once it prints the address it listens on (an error with its stderr if it exits first or takes over 120 s).
 */
export async function serveChild(store: string, args: string[]): Promise<ServeChild> {
  const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
  const serve = ['serve', '--model', 'gutenberg-llama-s', '--port', '0', '--store', store, '--backend', 'cpu'];
  const proc = spawn(process.execPath, ['--import', 'tsx', main, ...serve, ...args], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const line = await Promise.race([
    new Promise<string>((resolve) => createInterface({ input: proc.stdout! }).once('line', resolve)),
    exited.then((code) => {
      throw new Error(`serve exited with ${code} before listening: ${err}`);
    }),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`serve did not start within 120 s: ${err}`)), 120_000).unref(),
    ),
  ]);
  return { proc, base: JSON.parse(line).listening, stderr: () => err, exited };
}

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

/** Asks `ready` every `everyMs` until it says yes; fails naming `what` when `ms` have passed first. */
export async function until(ready: () => Promise<boolean>, ms: number, what: string, everyMs = 50): Promise<void> {
  for (const deadline = Date.now() + ms; !(await ready());) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Kills a `cram serve` child with SIGKILL `afterMs` from now, and checks that it died of the signal. */
export async function killHard(child: ServeChild, afterMs: number): Promise<void> {
  await new Promise((r) => setTimeout(r, afterMs));
  child.proc.kill('SIGKILL');
  assert.equal(await child.exited, null);
}

/** Awaits a reply and checks it is the error `status` with `code` (and a message matching `message`); returns it. */
export async function expectError(
  reply: Promise<Reply>,
  status: number,
  code: string,
  message?: RegExp,
): Promise<Reply> {
  const x = await reply;
  assert.equal(x.status, status, JSON.stringify(x.json));
  assert.equal(x.json.error.code, code, JSON.stringify(x.json));
  if (message) assert.match(x.json.error.message, message);
  return x;
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
