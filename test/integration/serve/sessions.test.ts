/**
 * A session keeps one memory (issue 25), against real servers on loopback (in-process, gutenberg-llama-s, short
 * messages, tiny thresholds): crossing the threshold twice ends with one memory holding exactly the compressed
 * messages, which generation puts first (200); the old memory answers 410 naming the new; the memory list and the
 * session agree. A merge that fails (a server restarted on the store with settings that cannot succeed) keeps the
 * old memory and every message, and generation still works.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundled, open } from '../../helpers.ts';
import type { ServeOptions } from '../../../src/serve/app.ts';
import { embedWithMemory } from '../../../src/compress/compress.ts';
import { greedyGenerate } from '../../../src/cram/generate.ts';
import { api, FAST, serveOptions, snippets, startServer, waitFor, type Reply } from './client.ts';

const model = await open(bundled('gutenberg-llama-s'));
const tok = model.tokenizer!;
const dir = mkdtempSync(join(tmpdir(), 'cram-serve-sessions-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const SESSION = { thresholdTokens: 24, keepTokens: 10, maxChunkTokens: 256 };
const messages = snippets(tok, 8, 11);

const start = (store: string, compress: ServeOptions['worker']['compress'] = FAST) =>
  startServer(serveOptions(model, { store, session: SESSION, worker: { compress, batchTexts: 4, batchWaitMs: 50 } }));

/** Sends messages (each kept as a line) until one queues a compression; returns that job's id. */
async function sendUntilCompressing(base: string, sid: string, sent: string[]): Promise<string> {
  for (;;) {
    const text = messages[sent.length];
    assert.ok(text, 'ran out of messages before the threshold was passed');
    const r = await api(base, 'POST', `/v1/sessions/${sid}/messages`, { text });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    sent.push(`${text}\n`);
    if (r.json.compressing) return r.json.compressing as string;
  }
}

const context = async (base: string, sid: string): Promise<Reply> => {
  const c = await api(base, 'GET', `/v1/sessions/${sid}/context`);
  assert.equal(c.status, 200, JSON.stringify(c.json));
  return c;
};

/** The session's memories as GET /v1/memories lists them (done ones), by the `session` field. */
async function listedDone(base: string, sid: string): Promise<string[]> {
  const l = await api(base, 'GET', '/v1/memories?status=done&limit=1000');
  return l.json.memories.filter((m: { session?: string }) => m.session === sid).map((m: { id: string }) => m.id);
}

test(
  'crossing the threshold twice: one memory holding every compressed message, first in generation; the old id is 410',
  { timeout: 600_000 },
  async (t) => {
    const { server, base } = await start(join(dir, 'merge.db'));
    try {
      const sid = 'twice';
      const sent: string[] = [];
      const m1 = await sendUntilCompressing(base, sid, sent);
      assert.equal((await waitFor(base, m1, { timeoutMs: 300_000 })).json.status, 'done');
      const held1 = (await api(base, 'GET', `/v1/memories/${m1}/text`)).json.text as string;

      const m2 = await sendUntilCompressing(base, sid, sent);
      const job = await api(base, 'GET', `/v1/memories/${m2}`);
      assert.equal(job.json.replaces, m1);
      // Until the merge is done: the old memory first, then every message as text; generation works on it.
      const during = await context(base, sid);
      assert.deepEqual(during.json.memories, [m1]);
      assert.equal(held1 + during.json.recent_text, sent.join(''));
      const d2 = await waitFor(base, m2, { timeoutMs: 300_000 });
      assert.equal(d2.json.status, 'done', JSON.stringify(d2.json));

      const ctx = await context(base, sid);
      t.diagnostic(`${m1}: ${(await api(base, 'GET', `/v1/memories/${m1}`)).status}; ${m2}: ${d2.json.tokens} tokens`);
      assert.deepEqual(ctx.json.memories, [m2], 'one memory');
      assert.equal(ctx.json.layout[0].kind, 'memory');
      assert.equal(ctx.json.layout.filter((l: { kind: string }) => l.kind === 'memory').length, 1);
      assert.equal(ctx.json.memory_full, false);
      // Its decompressed text is the first memory's text followed by the messages merged into it.
      const held2 = (await api(base, 'GET', `/v1/memories/${m2}/text`)).json.text as string;
      assert.ok(held2.startsWith(held1) && held2.length > held1.length, `${held1} | ${held2}`);
      assert.equal(held2 + ctx.json.recent_text, sent.join(''), 'every message, in order, once');
      assert.equal(ctx.json.compressed_tokens + ctx.json.text_tokens, tok.encode(sent.join('')).length - 1);

      // The list and the session agree: the merged memory only; the old one is gone, answering 410 naming it.
      assert.deepEqual(await listedDone(base, sid), [m2]);
      for (const r of [
        await api(base, 'GET', `/v1/memories/${m1}`),
        await api(base, 'GET', `/v1/memories/${m1}/text`),
        await api(base, 'POST', '/v1/generate', { prompt: `[${m1}]x` }),
      ]) {
        assert.equal(r.status, 410, JSON.stringify(r.json));
        assert.equal(r.json.error.code, 'memory_superseded');
        assert.match(r.json.error.message, new RegExp(`${m1} was merged into ${m2}.*session "${sid}"`));
      }

      // Generation: 200, the memory first (its vectors), then the recent text and the prompt as tokens.
      const g = await api(base, 'POST', `/v1/sessions/${sid}/generate`, { prompt: 'He', max_tokens: 10 });
      assert.equal(g.status, 200, JSON.stringify(g.json));
      assert.deepEqual(g.json.input.memories, [m2]);
      assert.equal(g.json.input.vectors, d2.json.stats.vectors);
      const mf = server.db.store.get(d2.json.store_id);
      const parts = await embedWithMemory(mf, `${ctx.json.recent_text}He`, { model });
      assert.deepEqual(g.json.ids, await greedyGenerate(model.compiled, { parts, maxNew: 10, eosId: tok.eosId }));
      // And [m2] opening a prompt brings the merged text back from its first words.
      const first = held2.split(' ').slice(0, 3).join(' ');
      const want = tok.encode(held2).length - tok.encode(first).length;
      const p = await api(base, 'POST', '/v1/generate', { prompt: `[${m2}]${first}`, max_tokens: want });
      assert.equal(p.status, 200, JSON.stringify(p.json));
      assert.equal(first + p.json.text, held2);

      assert.equal((await api(base, 'DELETE', `/v1/sessions/${sid}`)).status, 204);
      assert.equal((await api(base, 'GET', `/v1/memories/${m1}`)).status, 404);
      assert.equal((await api(base, 'GET', `/v1/memories/${m2}`)).status, 404);
    } finally {
      await server.close();
    }
  },
);

test(
  'a merge that fails keeps the old memory and every message as text; the session still generates from its memory',
  { timeout: 600_000 },
  async () => {
    const store = join(dir, 'fail.db');
    const sid = 'failing';
    const sent: string[] = [];
    const a = await start(store);
    let m1: string;
    try {
      m1 = await sendUntilCompressing(a.base, sid, sent);
      assert.equal((await waitFor(a.base, m1, { timeoutMs: 300_000 })).json.status, 'done');
    } finally {
      await a.server.close();
    }
    // The same store under settings no text can meet (one step, one vector): the merge must fail.
    const b = await start(store, { ...FAST, maxSteps: 1, maxStepsCeiling: 1, patience: 1, maxMem: 1 });
    try {
      const m2 = await sendUntilCompressing(b.base, sid, sent);
      const f = await waitFor(b.base, m2, { timeoutMs: 300_000 });
      assert.equal(f.json.status, 'failed', JSON.stringify(f.json));
      const ctx = await context(b.base, sid);
      assert.deepEqual(ctx.json.memories, [m1]);
      assert.equal(ctx.json.layout[0].kind, 'memory');
      const texts = ctx.json.layout.slice(1);
      assert.ok(texts.every((l: { kind: string }) => l.kind === 'text'));
      assert.ok(texts.some((l: { compression_failed: string | null }) => l.compression_failed === m2));
      const held = (await api(b.base, 'GET', `/v1/memories/${m1}/text`)).json.text as string;
      assert.equal(held + ctx.json.recent_text, sent.join(''), 'every message kept');
      // The list agrees: the old memory done, the merge failed, both the session's.
      assert.deepEqual(await listedDone(b.base, sid), [m1]);
      assert.equal((await api(b.base, 'GET', `/v1/memories/${m1}`)).status, 200);
      const g = await api(b.base, 'POST', `/v1/sessions/${sid}/generate`, { prompt: '', max_tokens: 4 });
      assert.equal(g.status, 200, JSON.stringify(g.json));
      assert.deepEqual(g.json.input.memories, [m1]);
      assert.equal(g.json.input.tokens, tok.encode(ctx.json.recent_text).length);
    } finally {
      await b.server.close();
    }
  },
);
