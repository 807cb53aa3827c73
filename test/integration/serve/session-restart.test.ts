/**
 * Crash safety of a session's merge: `cram serve` as a child process; a session's first memory is done, a second
 * crossing of the threshold queues the merge (the memory's text + the oldest messages), kill -9 while it runs, start
 * again on the same store: the merge is queued again, completes exactly once (one store entry, the old memory's
 * entry gone, one memory part), and the session's one memory holds every compressed message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { bundled } from '../../helpers.ts';
import { loadModel } from '../../../src/models/load.ts';
import { api, snippets, waitFor } from './client.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

async function serve(store: string): Promise<{ proc: ChildProcess; base: string; exited: Promise<number | null> }> {
  const args = ['--port', '0', '--store', store, '--backend', 'cpu', '--tokens-per-vector', '2'];
  args.push('--max-steps', '300', '--patience', '100', '--session-threshold', '30', '--session-keep', '12');
  const proc = spawn(process.execPath, ['--import', 'tsx', DRIVER, 'serve', '--model', 'gutenberg-llama-s', ...args], {
    cwd: ROOT,
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
  return { proc, base: JSON.parse(line).listening, exited };
}

test(
  "kill -9 during a session's merge, then restart: it completes exactly once and the session keeps one memory",
  { timeout: 600_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cram-serve-merge-kill-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = join(dir, 'store.db');
    const messages = snippets((await loadModel(bundled('gutenberg-llama-s'))).tokenizer!, 12, 16);
    const sid = 'crash';
    const sent: string[] = [];
    const send = async (base: string): Promise<string> => {
      for (;;) {
        const r = await api(base, 'POST', `/v1/sessions/${sid}/messages`, { text: messages[sent.length] });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        sent.push(`${messages[sent.length]}\n`);
        if (r.json.compressing) return r.json.compressing as string;
      }
    };

    const a = await serve(store);
    t.after(() => {
      a.proc.kill('SIGKILL');
    });
    const m1 = await send(a.base);
    assert.equal((await waitFor(a.base, m1, { timeoutMs: 300_000 })).json.status, 'done');
    const m2 = await send(a.base);
    for (const deadline = Date.now() + 120_000; ;) {
      const r = await api(a.base, 'GET', `/v1/memories/${m2}`);
      if (r.json.status === 'running') break;
      assert.equal(r.json.status, 'queued', JSON.stringify(r.json));
      assert.ok(Date.now() < deadline, 'the merge did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    a.proc.kill('SIGKILL');
    assert.equal(await a.exited, null);
    const raw = new Database(store, { readonly: true });
    const atKill = raw.prepare('SELECT status FROM serve_memories WHERE n = ?').get(Number(m2.slice(7))) as {
      status: string;
    };
    raw.close();
    assert.equal(atKill.status, 'running', 'killed while the merge ran');

    const b = await serve(store);
    t.after(() => {
      b.proc.kill('SIGKILL');
    });
    const done = await waitFor(b.base, m2, { timeoutMs: 300_000 });
    assert.equal(done.json.status, 'done', JSON.stringify(done.json));
    assert.equal(done.json.runs, 2, 'interrupted once, run again');
    t.diagnostic(`merge: ${done.json.tokens} tokens, ${done.json.stats.compress_seconds} s after the restart`);
    assert.equal(done.json.replaces, m1);
    const ctx = await api(b.base, 'GET', `/v1/sessions/${sid}/context`);
    assert.deepEqual(ctx.json.memories, [m2]);
    const held = (await api(b.base, 'GET', `/v1/memories/${m2}/text`)).json.text as string;
    assert.equal(held + ctx.json.recent_text, sent.join(''));
    assert.equal((await api(b.base, 'GET', `/v1/memories/${m1}`)).status, 410);
    const g = await api(b.base, 'POST', `/v1/sessions/${sid}/generate`, { prompt: '', max_tokens: 4 });
    assert.equal(g.status, 200, JSON.stringify(g.json));
    assert.deepEqual(g.json.input.memories, [m2]);
    b.proc.kill('SIGTERM');
    assert.equal(await b.exited, 0);

    const check = new Database(store, { readonly: true });
    const rows = check.prepare('SELECT n, status, completions FROM serve_memories ORDER BY n').all();
    assert.deepEqual(rows, [{ n: Number(m2.slice(7)), status: 'done', completions: 1 }]);
    const entries = check.prepare('SELECT tags FROM memories').all() as { tags: string }[];
    assert.deepEqual(
      entries.map((e) => JSON.parse(e.tags)),
      [[m2, `session:${sid}`]],
    );
    const memParts = check.prepare("SELECT memory_n FROM serve_session_parts WHERE kind = 'memory'").all();
    assert.deepEqual(memParts, [{ memory_n: Number(m2.slice(7)) }]);
    check.close();
  },
);
