/**
 * Crash safety of a session's merge: `cram serve` as a child process; a session's first memory is done, a second
 * crossing of the threshold queues the merge (the memory's text + the oldest messages), kill -9 while it runs, start
 * again on the same store: the merge is queued again, completes exactly once (one store entry, the old memory's
 * entry gone, one memory part), and the session's one memory holds every compressed message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { bundled } from '../../helpers.ts';
import { loadModel } from '../../../src/models/load.ts';
import { tmpFolder } from '../../scratch.ts';
import { api, FAST_FLAGS, killHard, serveChild, snippets, until, waitFor } from './client.ts';

/** The service with tiny session thresholds. */
const serve = (store: string) =>
  serveChild(store, [...FAST_FLAGS, '--session-threshold', '30', '--session-keep', '12']);

test(
  "kill -9 during a session's merge, then restart: it completes exactly once and the session keeps one memory",
  { timeout: 600_000 },
  async (t) => {
    const dir = tmpFolder(t, 'cram-serve-merge-kill-');
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
    const running = async () => {
      const r = await api(a.base, 'GET', `/v1/memories/${m2}`);
      if (r.json.status !== 'running') assert.equal(r.json.status, 'queued', JSON.stringify(r.json));
      return r.json.status === 'running';
    };
    await until(running, 120_000, 'the merge did not start', 20);
    await killHard(a, 200);
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
