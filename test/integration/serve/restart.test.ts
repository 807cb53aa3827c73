/**
 * Crash safety of the memory service: `cram serve` as a child process, kill -9 while jobs are queued and running,
 * start it again on the same store: every acknowledged job finishes, exactly once (one store entry each, completed
 * once), the interrupted ones re-run from their start, and every text comes back exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { bundled } from '../../helpers.ts';
import { loadModel } from '../../../src/models/load.ts';
import { tmpFolder } from '../../scratch.ts';
import { api, FAST_FLAGS, killHard, serveChild, snippets, until, waitFor } from './client.ts';

/** The service with small batches, so that some jobs are queued while others run. */
const serve = (store: string) =>
  serveChild(store, [...FAST_FLAGS, '--segment-tokens', '8', '--batch-texts', '2', '--batch-wait-ms', '200']);

test(
  'kill -9 with jobs queued and running, then restart: every job finishes exactly once, nothing acknowledged is lost',
  { timeout: 300_000 },
  async (t) => {
    const dir = tmpFolder(t, 'cram-serve-kill-');
    const store = join(dir, 'store.db');
    const tok = (await loadModel(bundled('gutenberg-llama-s'))).tokenizer!;
    const texts = snippets(tok, 12, 16).slice(10, 16);

    const a = await serve(store);
    t.after(() => {
      a.proc.kill('SIGKILL');
    });
    const posted = await Promise.all(texts.map((text) => api(a.base, 'POST', '/v1/memories', { text })));
    assert.deepEqual(
      posted.map((p) => p.status),
      texts.map(() => 202),
    );
    const ids = posted.map((p) => p.json.id as string);
    // Wait until a batch is optimising (two texts per batch: the other four are queued), then kill -9.
    await until(
      async () => (await api(a.base, 'GET', '/v1/health')).json.queue.running > 0,
      60_000,
      'no job started running',
    );
    await killHard(a, 500);

    const db = new Database(store, { readonly: true });
    const atKill = new Map(
      (db.prepare('SELECT n, status FROM serve_memories').all() as { n: number; status: string }[]).map((r) => [
        `mem-id-${r.n}`,
        r.status,
      ]),
    );
    db.close();
    assert.deepEqual([...atKill.keys()].sort(), [...ids].sort(), 'every acknowledged job is in the store');
    const running = ids.filter((id) => atKill.get(id) === 'running');
    assert.ok(running.length >= 1, `running at kill: ${JSON.stringify([...atKill])}`);
    assert.ok(
      ids.some((id) => atKill.get(id) === 'queued'),
      'some jobs were still queued',
    );
    t.diagnostic(`at kill -9: ${JSON.stringify(Object.fromEntries(atKill))}`);

    const b = await serve(store);
    t.after(() => {
      b.proc.kill('SIGKILL');
    });
    assert.match(b.stderr(), new RegExp(`${running.length} job\\(s\\) interrupted by the last stop queued again`));
    for (const [i, id] of ids.entries()) {
      const r = await waitFor(b.base, id, { timeoutMs: 180_000 });
      assert.equal(r.json.status, 'done', JSON.stringify(r.json));
      // Interrupted jobs ran again from their start; the others ran once.
      assert.equal(r.json.runs, running.includes(id) ? 2 : 1, `${id} runs`);
      const back = await api(b.base, 'GET', `/v1/memories/${id}/text`);
      assert.equal(back.json.text, texts[i]);
    }
    b.proc.kill('SIGTERM');
    assert.equal(await b.exited, 0, b.stderr());

    const check = new Database(store, { readonly: true });
    const rows = check.prepare('SELECT n, status, completions FROM serve_memories ORDER BY n').all() as {
      n: number;
      status: string;
      completions: number;
    }[];
    assert.deepEqual(
      rows.map((r) => [r.status, r.completions]),
      ids.map(() => ['done', 1]),
    );
    // One store entry per job: the .mem is committed in the transaction that marks the job done.
    const entries = check
      .prepare(
        "SELECT value AS tag, COUNT(*) AS c FROM memories, json_each(memories.tags) WHERE value LIKE 'mem-id-%' GROUP BY value",
      )
      .all() as { tag: string; c: number }[];
    check.close();
    assert.deepEqual(entries.map((e) => e.tag).sort(), [...ids].sort());
    assert.ok(
      entries.every((e) => e.c === 1),
      JSON.stringify(entries),
    );
  },
);
