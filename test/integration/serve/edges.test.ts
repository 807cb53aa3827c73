/**
 * The HTTP edges of issue 25 and the store failures of issue 26 (item 2), against in-process servers on loopback
 * (gutenberg-llama-s; gutenberg-llama-xs for the model switch): 415, path-parameter limits, bad placeholders, list
 * limits and totals, the store's mode, the OpenAPI document, placement ([mem-id-N] first regenerates the text; other
 * layouts refused), memories tied to their model, `cram store rm` seen at once, a read-only store.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { bundled, open } from '../../helpers.ts';
import { createServer, MAX_SID, type ServeOptions } from '../../../src/serve/app.ts';
import { MemoryStore } from '../../../src/compress/store.ts';
import { api, expectError, serveOptions, snippets, startServer, waitFor } from './client.ts';

const model = await open(bundled('gutenberg-llama-s'));
const tok = model.tokenizer!;
const dir = mkdtempSync(join(tmpdir(), 'cram-serve-edges-'));
const texts = snippets(tok, 12, 16);

const options = (over: Partial<ServeOptions> & { store: string }) =>
  serveOptions(model, { ...over, worker: { batchTokens: 4096, ...over.worker } });
const start = (over: Partial<ServeOptions> & { store: string }) => startServer(options(over));

const storePath = join(dir, 'main.db');
const main = await start({ store: storePath, thread: false });
const base = main.base;
let closed = false;
after(async () => {
  if (!closed) await main.server.close();
  rmSync(dir, { recursive: true, force: true });
});

// The one memory most tests use: compressed once, as one sequence.
const text = texts[0];
const posted = await api(base, 'POST', '/v1/memories', { text });
const id: string = posted.json.id;
const done = await waitFor(base, id);

test('the store file is created 0600', () => {
  assert.equal(statSync(storePath).mode & 0o777, 0o600);
});

test('responses name the model: the 202, the memory, generate, health', async () => {
  const want = { name: model.name, weights_sha256: model.weightsSha256, tokenizer_sha256: tok.fingerprint };
  assert.deepEqual(posted.json.model, want);
  assert.equal(done.json.status, 'done', JSON.stringify(done.json));
  assert.deepEqual(done.json.model, want);
  assert.deepEqual((await api(base, 'GET', '/v1/health')).json.model_identity, want);
});

test("placement: [mem-id-N] opening a prompt, then the text's first words, continues with exactly the rest of the text", async () => {
  const words = text.split(' ');
  const head = words.slice(0, 3).join(' ');
  const rest = text.slice(head.length);
  const want = tok.encode(text).length - tok.encode(head).length;
  const g = await api(base, 'POST', '/v1/generate', { prompt: `[${id}]${head}`, max_tokens: want });
  assert.equal(g.status, 200, JSON.stringify(g.json));
  assert.equal(g.json.text, rest);
  // The same prompt without the memory does not know it (the test would prove nothing otherwise).
  const bare = await api(base, 'POST', '/v1/generate', { prompt: head, max_tokens: want });
  assert.notEqual(bare.json.text, rest);
  // Layouts whose vectors sit where they were not trained are refused, never junk.
  await expectError(
    api(base, 'POST', '/v1/generate', { prompt: `Where is it? [${id}]${head}` }),
    422,
    'unsupported_layout',
    /comes after other text/,
  );
});

test('415 for a body that is not JSON, text/plain included', async () => {
  await expectError(
    api(base, 'POST', '/v1/memories', 'hello', { 'content-type': 'text/plain' }),
    415,
    'unsupported_media_type',
    /application\/json/,
  );
  await expectError(
    api(base, 'POST', '/v1/generate', 'hello', { 'content-type': 'text/plain; charset=utf-8' }),
    415,
    'unsupported_media_type',
  );
});

test("path parameters: the schema's limits decide (a 101–128 character session id works, 129 is a 400), never Fastify's 414", async () => {
  for (const n of [101, MAX_SID]) {
    const sid = 's'.repeat(n);
    await expectError(api(base, 'GET', `/v1/sessions/${sid}/context`), 404, 'unknown_session');
  }
  await expectError(
    api(base, 'GET', `/v1/sessions/${'s'.repeat(MAX_SID + 1)}/context`),
    400,
    'invalid_request',
    /params\.sid must match/,
  );
  await expectError(
    api(base, 'GET', `/v1/memories/mem-id-${'1'.repeat(70)}`),
    400,
    'invalid_request',
    /params\.id must NOT have more than 64/,
  );
});

test('bad placeholders and ids are 400 bad_id: too many digits, wrong case, leading zeros', async () => {
  for (const p of ['[mem-id-9999999999999999]The', '[MEM-ID-1]The', '[mem-id-01]The']) {
    await expectError(api(base, 'POST', '/v1/generate', { prompt: p }), 400, 'bad_id', /is not a valid placeholder/);
  }
  for (const bad of ['MEM-ID-1', 'mem-id-01', 'mem-id-9999999999999999']) {
    await expectError(api(base, 'GET', `/v1/memories/${bad}`), 400, 'bad_id', /not a memory id/);
  }
});

test('list: an out-of-range limit is a 400; a page carries the total and the next offset', async () => {
  for (const limit of ['0', '5000'])
    await expectError(api(base, 'GET', `/v1/memories?limit=${limit}`), 400, 'invalid_request', /limit must be 1–1000/);
  const more = await api(base, 'POST', '/v1/memories', { text: texts[1] });
  const page = await api(base, 'GET', '/v1/memories?limit=1');
  assert.equal(page.status, 200);
  assert.equal(page.json.total, 2);
  assert.equal(page.json.memories.length, 1);
  assert.equal(page.json.next_offset, 1);
  const last = await api(base, 'GET', '/v1/memories?limit=1&offset=1');
  assert.equal(last.json.next_offset, null);
  assert.equal((await waitFor(base, more.json.id)).json.status, 'done');
});

test('GET /openapi.json is valid OpenAPI 3.1 and lists every route the server has', async () => {
  const doc = await api(base, 'GET', '/openapi.json');
  assert.equal(doc.status, 200);
  assert.equal(doc.json.openapi, '3.1.0');
  const v = new Validator();
  const res = await v.validate(doc.json);
  assert.equal(v.version, '3.1');
  assert.ok(res.valid, JSON.stringify(res.errors));
  const routes = main.server.routes.filter((r) => r.url !== '/openapi.json');
  assert.ok(routes.length >= 10, JSON.stringify(routes));
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    assert.ok(doc.json.paths[path]?.[r.method.toLowerCase()], `${r.method} ${r.url} is missing from /openapi.json`);
  }
});

test('a memory removed with `cram store rm` is no longer served from the cache', async () => {
  const other = await api(base, 'POST', '/v1/memories', { text: texts[2] });
  const d = await waitFor(base, other.json.id);
  assert.equal((await api(base, 'GET', `/v1/memories/${other.json.id}/text`)).json.text, texts[2]);
  const cli = new MemoryStore({ path: storePath, create: false });
  cli.rm(d.json.store_id);
  cli.close();
  await expectError(api(base, 'GET', `/v1/memories/${other.json.id}/text`), 410, 'memory_gone', /cram store rm/);
  await expectError(api(base, 'POST', '/v1/generate', { prompt: `[${other.json.id}]x` }), 410, 'memory_gone');
});

test('a store that stops taking writes: health degraded, POST 503, queued jobs wait and run once it is writable again', async () => {
  const db = main.server.db.db;
  const waiting = await api(base, 'POST', '/v1/memories', { text: texts[3] });
  assert.equal(waiting.status, 202);
  db.pragma('query_only = ON');
  try {
    const h = await api(base, 'GET', '/v1/health');
    assert.equal(h.json.status, 'degraded');
    assert.match(h.json.store_error, /does not take writes/);
    await expectError(
      api(base, 'POST', '/v1/memories', { text: texts[4] }),
      503,
      'store_unavailable',
      /cannot be written now/,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const w = await api(base, 'GET', `/v1/memories/${waiting.json.id}`);
    assert.equal(w.json.status, 'queued');
    assert.match(w.json.store_error, /must be writable; jobs wait and are retried/);
  } finally {
    db.pragma('query_only = OFF');
  }
  assert.equal((await waitFor(base, waiting.json.id, { timeoutMs: 120_000 })).json.status, 'done');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await api(base, 'GET', '/v1/health')).json.status, 'ok');
});

test('another model on the same store: refused at start naming both; with --allow-other-models, 409 naming both, never 200 or 500', async () => {
  await main.server.close();
  closed = true;
  const xs = await open(bundled('gutenberg-llama-xs'));
  await assert.rejects(
    createServer(options({ store: storePath, model: xs })),
    (e: Error) =>
      /holds memories or jobs made by gutenberg-llama-s \(weights/.test(e.message) &&
      /not by gutenberg-llama-xs/.test(e.message) &&
      /--allow-other-models/.test(e.message),
  );
  const { server, base: b } = await start({ store: storePath, model: xs, allowOtherModels: true, thread: false });
  try {
    const m = await api(b, 'GET', `/v1/memories/${id}`);
    assert.equal(m.status, 200);
    assert.equal(m.json.model.name, 'gutenberg-llama-s');
    assert.match(m.json.other_model, /made by gutenberg-llama-s/);
    for (const r of [
      api(b, 'POST', '/v1/generate', { prompt: `[${id}]The` }),
      api(b, 'GET', `/v1/memories/${id}/text`),
    ]) {
      await expectError(
        r,
        409,
        'model_mismatch',
        /made by model gutenberg-llama-s \(weights .*this server runs gutenberg-llama-xs/,
      );
    }
    // A job queued for the old model keeps it: this server's worker leaves it queued.
    const sIdentity = { name: model.name, weights_sha256: model.weightsSha256, tokenizer_sha256: tok.fingerprint };
    const n = server.db.enqueue(
      { model: sIdentity, text: texts[5], textSha256: 'x'.repeat(64), tokens: 12, tags: [] },
      64,
    )!;
    server.worker.wake();
    const mine = await api(b, 'POST', '/v1/memories', { text: texts[6] });
    assert.equal(mine.json.model.name, 'gutenberg-llama-xs');
    assert.ok(['done', 'failed'].includes((await waitFor(b, mine.json.id)).json.status));
    const old = await api(b, 'GET', `/v1/memories/mem-id-${n}`);
    assert.equal(old.json.status, 'queued');
    assert.equal(old.json.model.name, 'gutenberg-llama-s');
  } finally {
    await server.close();
    await xs.compiled.release();
  }
});
