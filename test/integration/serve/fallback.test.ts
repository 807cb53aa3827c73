/**
 * Texts the model cannot hold with tokens + 1 vectors, at the server's defaults: a short one is made exact as one
 * sequence with more vectors (up to 4 per token) and opens a prompt; a longer one that cannot be one sequence goes to
 * segments of 12, then 6, then 3 tokens until every segment is exact.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundled, open } from '../../helpers.ts';
import { SERVE_DEFAULTS } from '../../../src/serve/app.ts';
import { DEFAULTS } from '../../../src/compress/defaults.ts';
import type { CompressSettings } from '../../../src/serve/queue.ts';
import { api, FAST, serveOptions, snippets, startServer, waitFor } from './client.ts';

/** `cram serve`'s compression settings when no flag is given. */
const SERVER_DEFAULT_COMPRESS: CompressSettings = {
  segmentTokens: SERVE_DEFAULTS.segmentTokens,
  tokensPerVector: DEFAULTS.tokensPerVector,
  maxSteps: DEFAULTS.maxSteps,
  patience: DEFAULTS.patience,
  seed: DEFAULTS.seed,
};
const dir = mkdtempSync(join(tmpdir(), 'cram-serve-fallback-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const worker = (compress: Partial<CompressSettings>) => ({
  compress: { ...SERVER_DEFAULT_COMPRESS, ...compress },
  batchTexts: 8,
  batchTokens: 4096,
  batchWaitMs: 100,
});

test('gutenberg-llama-xs at the defaults: a sentence it cannot hold with tokens + 1 vectors still opens a prompt', async () => {
  const xs = await open(bundled('gutenberg-llama-xs'));
  const { server, base } = await startServer(
    serveOptions(xs, {
      store: join(dir, 'xs.db'),
      worker: worker({}),
    }),
  );
  try {
    // 11 tokens of a held-out book: not exact as one sequence with up to 12 vectors (measured: 5 of 8 such openings).
    const text = 'Of course, I understand that he is a good match';
    const p = await api(base, 'POST', '/v1/memories', { text });
    const d = await waitFor(base, p.json.id, { timeoutMs: 600_000 });
    assert.equal(d.json.status, 'done', JSON.stringify(d.json));
    assert.equal(d.json.stats.segments, 1);
    assert.ok(d.json.stats.vectors > 12 && d.json.stats.vectors <= 44, `K = ${d.json.stats.vectors}`);
    assert.equal(d.json.stats.layout, undefined);
    const g = await api(base, 'POST', '/v1/generate', { prompt: `[${p.json.id}]Of course,`, max_tokens: 8 });
    assert.equal(g.status, 200, JSON.stringify(g.json));
    assert.ok(g.json.text.startsWith(' I understand that he is a good match'), JSON.stringify(g.json.text));
  } finally {
    await server.close();
  }
});

test('segments that are not exact at their limit are tried shorter: 12, then 6, then 3 tokens', async () => {
  const s = await open(bundled('gutenberg-llama-s'));
  // At most 2 vectors: too few for 9-token segments, enough for 3-token ones.
  const { server, base } = await startServer(
    serveOptions(s, { store: join(dir, 's.db'), worker: worker({ ...FAST, maxMem: 2 }) }),
  );
  try {
    const [text] = snippets(s.tokenizer!, 18, 18);
    const p = await api(base, 'POST', '/v1/memories', { text });
    const d = await waitFor(base, p.json.id, { timeoutMs: 600_000 });
    assert.equal(d.json.status, 'done', JSON.stringify(d.json));
    assert.equal(d.json.stats.layout, 'segments');
    assert.ok(d.json.stats.segments >= 3, `${d.json.stats.segments} segments`);
    assert.equal((await api(base, 'GET', `/v1/memories/${p.json.id}/text`)).json.text, text);
  } finally {
    await server.close();
  }
});
