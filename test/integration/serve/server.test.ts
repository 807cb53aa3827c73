/**
 * The memory service against a real server on loopback (started in-process on port 0, gutenberg-llama-s, short texts
 * and small step limits): compress → poll → exact text, batching, [mem-id] expansion = embedWithMemory + greedy
 * generation, sessions compressing their oldest part, 50 concurrent requests, and every kind of bad input.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundled, open } from '../../helpers.ts';
import type { ServeOptions } from '../../../src/serve/app.ts';
import { embedWithMemory } from '../../../src/compress/compress.ts';
import { greedyGenerate } from '../../../src/cram/generate.ts';
import { modelCodeLength } from '../../../src/compress/baselines.ts';
import { api, expectError, FAST, serveOptions, snippets, startServer, waitFor } from './client.ts';

const model = await open(bundled('gutenberg-llama-s'));
const tok = model.tokenizer!;
const dir = mkdtempSync(join(tmpdir(), 'cram-serve-'));
const start = (over: Partial<ServeOptions> & { store: string }) =>
  startServer(serveOptions(model, { maxWaiting: 32, ...over, worker: { batchWaitMs: 150, ...over.worker } }));

const main = await start({ store: join(dir, 'main.db') });
const base = main.base;
const texts = snippets(tok, 12, 16);
after(async () => {
  await main.server.close();
  rmSync(dir, { recursive: true, force: true });
});

let first = '';

test('POST /v1/memories → 202; two requests sent together are crammed in one batch; each polls to done and comes back exactly', async () => {
  const [a, b] = texts;
  const posted = await Promise.all([a, b].map((text) => api(base, 'POST', '/v1/memories', { text, tags: ['t1'] })));
  for (const p of posted) {
    assert.equal(p.status, 202, JSON.stringify(p.json));
    assert.match(p.json.id, /^mem-id-\d+$/);
    assert.equal(p.json.status, 'queued');
    assert.equal(p.json.placeholder, `[${p.json.id}]`);
    assert.equal(p.headers.get('location'), `/v1/memories/${p.json.id}`);
  }
  const done = await Promise.all(posted.map((p) => waitFor(base, p.json.id)));
  for (const [i, d] of done.entries()) {
    assert.equal(d.json.status, 'done', JSON.stringify(d.json));
    const s = d.json.stats;
    const text = [a, b][i];
    // Honest figures next to the vectors.
    assert.equal(s.text_bytes, Buffer.byteLength(text));
    assert.equal(s.gzip_bytes, gzipSync(Buffer.from(text), { level: 9 }).length);
    assert.ok(s.brotli_bytes > 0 && s.mem_bytes > s.text_bytes, JSON.stringify(s));
    const code = await modelCodeLength(model.compiled, tok.encode(text));
    assert.ok(Math.abs(s.model_code_bits - code.bits) < 0.1, `${s.model_code_bits} vs ${code.bits}`);
    assert.equal(s.model_code_bytes, Math.ceil(code.bits / 8));
    assert.equal(s.tokens, tok.encode(text).length - 1);
    const t = await api(base, 'GET', `/v1/memories/${d.json.id}/text`);
    assert.equal(t.status, 200);
    assert.equal(t.json.text, text);
    assert.equal(t.json.verified, true);
  }
  assert.equal(done[0].json.stats.batch.id, done[1].json.stats.batch.id, 'both in one batch');
  assert.equal(done[0].json.stats.batch.texts, 2);
  const list = await api(base, 'GET', '/v1/memories?tag=t1');
  assert.deepEqual(
    list.json.memories.map((m: { id: string }) => m.id),
    posted.map((p) => p.json.id),
  );
  // The finished .mem is in the store too, tagged with its service id.
  const entry = main.server.db.store.entry(done[0].json.store_id);
  assert.ok(entry.tags.includes(done[0].json.id));
  first = done[0].json.id;
});

test("POST /v1/generate: [mem-id-N] expands to the memory's vectors, exactly as embedWithMemory + greedyGenerate in-process", async () => {
  const row = await api(base, 'GET', `/v1/memories/${first}`);
  const mf = main.server.db.store.get(row.json.store_id);
  const cont = 'Then he said';
  const r = await api(base, 'POST', '/v1/generate', { prompt: `[${first}]${cont}`, max_tokens: 16 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const parts = await embedWithMemory(mf, cont, { model });
  const ids = await greedyGenerate(model.compiled, { parts, maxNew: 16, eosId: tok.eosId });
  assert.deepEqual(r.json.ids, ids);
  assert.equal(r.json.text, tok.decode(ids));
  assert.equal(
    r.json.input.vectors,
    mf.segments.reduce((a, s) => a + s.nMem, 0),
  );
  assert.deepEqual(r.json.input.memories, [first]);
  // A prompt that ends with the placeholder continues after the memory (= embedWithMemory(memory, '')).
  const end = await api(base, 'POST', '/v1/generate', { prompt: `[${first}]`, max_tokens: 8 });
  assert.deepEqual(
    end.json.ids,
    await greedyGenerate(model.compiled, {
      parts: await embedWithMemory(mf, '', { model }),
      maxNew: 8,
      eosId: tok.eosId,
    }),
  );
  // Unknown and unfinished ids are 4xx naming them.
  const unknown = await api(base, 'POST', '/v1/generate', { prompt: 'Hello [mem-id-99999] there' });
  assert.equal(unknown.status, 404);
  assert.match(unknown.json.error.message, /mem-id-99999/);
  const queued = await api(base, 'POST', '/v1/memories', { text: texts[2] });
  const early = await api(base, 'POST', '/v1/generate', { prompt: `[${queued.json.id}] x` });
  assert.equal(early.status, 409);
  assert.match(early.json.error.message, new RegExp(`${queued.json.id} is (queued|running), not done yet`));
  const early2 = await api(base, 'GET', `/v1/memories/${queued.json.id}/text`);
  assert.equal(early2.status, 409);
  assert.equal((await waitFor(base, queued.json.id)).json.status, 'done');
});

test('a session passing its threshold gets its oldest messages compressed; the context shrinks and generation continues from it', async () => {
  const sid = 'chat-1';
  const msgs = texts.slice(3, 7);
  let compressing: string | null = null;
  let allTokens = 0;
  const sent: string[] = [];
  for (const m of msgs) {
    const r = await api(base, 'POST', `/v1/sessions/${sid}/messages`, { text: m });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    sent.push(m);
    allTokens += r.json.tokens;
    compressing ??= r.json.compressing;
    if (compressing) break;
  }
  assert.ok(compressing, 'the threshold was passed and a compression job queued');
  const before = await api(base, 'GET', `/v1/sessions/${sid}/context`);
  assert.equal(before.json.text_tokens, allTokens);
  assert.ok(before.json.layout.some((l: { compressing: string | null }) => l.compressing === compressing));
  assert.equal((await waitFor(base, compressing!)).json.status, 'done');
  const ctx = await api(base, 'GET', `/v1/sessions/${sid}/context`);
  assert.equal(ctx.status, 200);
  assert.deepEqual(ctx.json.memories, [compressing]);
  assert.equal(ctx.json.layout[0].kind, 'memory');
  assert.ok(ctx.json.text_tokens < before.json.text_tokens && ctx.json.text_tokens <= 30, JSON.stringify(ctx.json));
  assert.ok(
    ctx.json.positions < before.json.positions,
    `context ${before.json.positions} → ${ctx.json.positions} positions`,
  );
  assert.equal(ctx.json.compressed_tokens + ctx.json.text_tokens, allTokens);
  // The memory holds exactly the oldest messages, one per line.
  const n = ctx.json.layout[0].tokens;
  const held = await api(base, 'GET', `/v1/memories/${compressing}/text`);
  assert.equal(held.json.text + ctx.json.recent_text, sent.map((m) => `${m}\n`).join(''));
  assert.ok(n > 0);
  // Generation from the session = the memory's vectors, then the recent text + prompt as tokens.
  const g = await api(base, 'POST', `/v1/sessions/${sid}/generate`, { prompt: 'He', max_tokens: 12 });
  assert.equal(g.status, 200, JSON.stringify(g.json));
  const mf = main.server.db.store.get((await api(base, 'GET', `/v1/memories/${compressing}`)).json.store_id);
  const parts = await embedWithMemory(mf, `${ctx.json.recent_text}He`, { model });
  assert.deepEqual(g.json.ids, await greedyGenerate(model.compiled, { parts, maxNew: 12, eosId: tok.eosId }));
  // A session's memory is deleted with its session, not alone.
  assert.equal((await api(base, 'DELETE', `/v1/memories/${compressing}`)).status, 409);
  assert.equal((await api(base, 'DELETE', `/v1/sessions/${sid}`)).status, 204);
  assert.equal((await api(base, 'GET', `/v1/sessions/${sid}/context`)).status, 404);
  assert.equal((await api(base, 'GET', `/v1/memories/${compressing}`)).status, 404);
});

test('50 concurrent requests are all answered', async () => {
  const reqs = Array.from({ length: 50 }, (_, i) => {
    if (i % 10 === 0) return api(base, 'POST', '/v1/generate', { prompt: `[${first}]The`, max_tokens: 4 });
    if (i % 10 === 1) return api(base, 'GET', '/v1/memories');
    if (i % 10 === 2) return api(base, 'GET', '/v1/health');
    return api(base, 'GET', `/v1/memories/${first}`);
  });
  const replies = await Promise.all(reqs);
  assert.deepEqual(
    replies.map((r) => r.status),
    replies.map(() => 200),
  );
  const gens = replies.filter((_, i) => i % 10 === 0).map((r) => JSON.stringify(r.json.ids));
  assert.equal(new Set(gens).size, 1, 'the same prompt gives the same continuation under load');
});

test('DELETE /v1/memories/:id removes the memory and its store entry', async () => {
  const p = await api(base, 'POST', '/v1/memories', { text: texts[7] });
  const d = await waitFor(base, p.json.id);
  assert.equal((await api(base, 'DELETE', `/v1/memories/${p.json.id}`)).status, 204);
  assert.equal((await api(base, 'GET', `/v1/memories/${p.json.id}`)).status, 404);
  assert.throws(() => main.server.db.store.entry(d.json.store_id), /no entry/);
  assert.equal((await api(base, 'DELETE', `/v1/memories/${p.json.id}`)).status, 404);
});

test('bad input: each a clear 4xx JSON error naming the problem; the server keeps serving', async () => {
  await expectError(
    api(base, 'POST', '/v1/memories', JSON.stringify({ text: 'a'.repeat(100_000) })),
    413,
    'body_too_large',
    /larger than .* 65536 bytes/,
  );
  await expectError(
    api(base, 'POST', '/v1/memories', '{"text": "unterminated'),
    400,
    'malformed_json',
    /not valid JSON/,
  );
  await expectError(api(base, 'POST', '/v1/memories', ''), 400, 'empty_body', /empty/);
  await expectError(api(base, 'POST', '/v1/memories', '[1, 2]'), 400, 'invalid_request', /body must be object/);
  await expectError(
    api(base, 'POST', '/v1/memories', { text: 42 }),
    400,
    'invalid_request',
    /body\.text must be string/,
  );
  await expectError(
    api(base, 'POST', '/v1/memories', { text: 'x', tags: 'a' }),
    400,
    'invalid_request',
    /body\.tags must be array/,
  );
  await expectError(
    api(base, 'POST', '/v1/memories', { text: 'x', colour: 'red' }),
    400,
    'invalid_request',
    /unknown field "colour"/,
  );
  await expectError(api(base, 'POST', '/v1/memories', {}), 400, 'invalid_request', /missing field "text"/);
  await expectError(api(base, 'POST', '/v1/memories', { text: '' }), 400, 'empty_text', /text is empty/);
  await expectError(
    api(base, 'POST', '/v1/memories', '{"text": "broken \\ud800 surrogate"}'),
    422,
    'text_not_round_trip',
    /does not reproduce this text exactly: from character 7/,
  );
  await expectError(
    api(base, 'POST', '/v1/memories', { text: `${texts[0]} `.repeat(30) }),
    413,
    'text_too_long',
    /tokens; this server takes at most 256/,
  );
  await expectError(
    api(base, 'POST', '/v1/memories', 'text=hello', { 'content-type': 'application/x-www-form-urlencoded' }),
    415,
    'unsupported_media_type',
    /application\/json/,
  );
  await expectError(
    api(base, 'POST', '/v1/generate', { prompt: 'x', max_tokens: 'ten' }),
    400,
    'invalid_request',
    /body\.max_tokens must be integer/,
  );
  await expectError(
    api(base, 'POST', '/v1/generate', { prompt: 'x', max_tokens: 10_000 }),
    400,
    'invalid_request',
    /body\.max_tokens must be <= 64/,
  );
  await expectError(api(base, 'POST', '/v1/generate', { prompt: '' }), 400, 'empty_prompt', /prompt is empty/);
  await expectError(
    api(base, 'POST', '/v1/generate', { prompt: `[${first}]${' the'.repeat(2100)}` }),
    400,
    'prompt_too_long',
    /positions; gutenberg-llama-s takes at most/,
  );
  await expectError(
    api(base, 'POST', '/v1/generate', { prompt: `[${first}]`.repeat(3) }),
    422,
    'unsupported_layout',
    /3 memory placeholders/,
  );
  await expectError(api(base, 'GET', '/v1/memories/42'), 400, 'bad_id', /not a memory id \(expected mem-id-<n>/);
  await expectError(api(base, 'GET', '/v1/memories/mem-id-123456'), 404, 'unknown_memory', /no memory mem-id-123456/);
  await expectError(
    api(base, 'GET', '/v1/memories?limit=lots'),
    400,
    'invalid_request',
    /querystring\.limit must match/,
  );
  await expectError(
    api(base, 'POST', '/v1/sessions/bad%20id!/messages', { text: 'x' }),
    400,
    'invalid_request',
    /params\.sid must match/,
  );
  await expectError(api(base, 'POST', '/v1/sessions/s1/messages', { text: '' }), 400, 'empty_text', /empty/);
  await expectError(api(base, 'GET', '/v1/sessions/nobody/context'), 404, 'unknown_session', /no session "nobody"/);
  await expectError(api(base, 'GET', '/v2/anything'), 404, 'not_found', /no route GET \/v2\/anything/);
  const health = await api(base, 'GET', '/v1/health');
  assert.equal(health.status, 200);
  assert.equal(health.json.status, 'ok');
});

test('a full queue answers 429 with Retry-After; a job that cannot be made exact fails with its reason; a token guards every route but health', async () => {
  // Jobs that must fail (one step, at most one vector per segment), a queue of two, no waiting room for generation.
  const { server, base: b } = await start({
    store: join(dir, 'strict.db'),
    maxQueue: 2,
    maxWaiting: 0,
    token: 'secret-token-1',
    worker: {
      compress: { ...FAST, maxSteps: 1, patience: 1, maxMem: 1 },
      batchTexts: 8,
      batchTokens: 4096,
      batchWaitMs: 400,
    },
  });
  try {
    const auth = { authorization: 'Bearer secret-token-1' };
    assert.equal((await api(b, 'GET', '/v1/memories')).status, 401);
    const wrong = await api(b, 'GET', '/v1/memories', undefined, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.json.error.message, /bearer token/);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await api(b, 'GET', '/v1/health')).status, 200);

    const posts = await Promise.all(texts.slice(0, 3).map((text) => api(b, 'POST', '/v1/memories', { text }, auth)));
    assert.deepEqual(posts.map((p) => p.status).sort(), [202, 202, 429]);
    const full = posts.find((p) => p.status === 429)!;
    assert.equal(full.json.error.code, 'too_busy');
    assert.match(full.json.error.message, /2 compression jobs are already queued or running/);
    assert.ok(Number(full.headers.get('retry-after')) >= 1);

    const gens = await Promise.all(
      [1, 2, 3].map(() => api(b, 'POST', '/v1/generate', { prompt: 'The old man', max_tokens: 48 }, auth)),
    );
    assert.ok(gens.some((g) => g.status === 200));
    const busy = gens.filter((g) => g.status === 429);
    assert.ok(busy.length >= 1, gens.map((g) => g.status).join(','));
    assert.ok(Number(busy[0].headers.get('retry-after')) >= 1);

    for (const p of posts.filter((x) => x.status === 202)) {
      const r = await waitFor(b, p.json.id, { headers: auth });
      assert.equal(r.json.status, 'failed');
      assert.match(r.json.error, /was not reproduced exactly (as one sequence )?with K=1 vector\(s\), the limit/);
      // After failing as one sequence it was tried in segments (of 12, 6 and 3 tokens), and says both.
      assert.match(r.json.error, /^segment \d+ .*\(as one sequence: the text .* was not reproduced exactly as one/);
      // The last try's segments are of 3 tokens (the text's tokens balanced: 2–3 per segment).
      const [, from, to] = /^segment \d+ \(tokens (\d+)–(\d+),/.exec(r.json.error)!;
      assert.ok(Number(to) - Number(from) + 1 <= 3, r.json.error);
      assert.equal((await api(b, 'GET', `/v1/memories/${p.json.id}/text`, undefined, auth)).status, 409);
      const g = await api(b, 'POST', '/v1/generate', { prompt: `[${p.json.id}]` }, auth);
      assert.equal(g.status, 409);
      assert.match(g.json.error.message, new RegExp(`${p.json.id} failed to compress`));
    }
    assert.equal((await api(b, 'GET', '/v1/health')).json.queue.failed, 2);
  } finally {
    await server.close();
  }
});

test('a text that cannot be one sequence is stored in segments: it comes back, and its placeholder is refused with the reason', async () => {
  // At most 6 vectors: too few for ~40 tokens as one sequence, enough for each 12-token segment.
  const { server, base: b } = await start({
    store: join(dir, 'fallback.db'),
    worker: { compress: { ...FAST, maxMem: 6 }, batchTexts: 8, batchTokens: 4096, batchWaitMs: 150 },
  });
  try {
    const [text] = snippets(tok, 38, 44);
    const p = await api(b, 'POST', '/v1/memories', { text });
    assert.equal(p.status, 202, JSON.stringify(p.json));
    const d = await waitFor(b, p.json.id);
    assert.equal(d.json.status, 'done', JSON.stringify(d.json));
    assert.equal(d.json.stats.layout, 'segments');
    assert.ok(d.json.stats.segments > 1);
    assert.match(d.json.stats.one_sequence_error, /was not reproduced exactly as one sequence with K=6 vector/);
    assert.equal((await api(b, 'GET', `/v1/memories/${p.json.id}/text`)).json.text, text);
    await expectError(
      api(b, 'POST', '/v1/generate', { prompt: `[${p.json.id}]${text.split(' ')[0]}` }),
      422,
      'unsupported_layout',
      new RegExp(
        `${p.json.id} is stored in \\d+ separate segments.*could not be compressed as one sequence on this model: ` +
          `the text .*GET /v1/memories/${p.json.id}/text`,
      ),
    );
  } finally {
    await server.close();
  }
});
