/**
 * The viewer's data endpoints and its guards, through Fastify's inject (no port opened): runs with their status,
 * a run's figures and tables with filters, a text page, a live comparison and its write, files from the results
 * folder only, the Host check and the token.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KIND_NAMES } from '../../src/view/harness.ts';
import { buildViewApp } from '../../src/view/server.ts';
import { seedResults } from './seed.ts';

const { root, ids } = seedResults();
writeFileSync(join(root, 'done', 'report.md'), '# report\n');
const app = buildViewApp(root);
after(() => app.close());

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await app.inject({ method: 'GET', url, headers });
  return {
    status: res.statusCode,
    body: String(res.headers['content-type'] ?? '').includes('json') ? res.json() : res.body,
    res,
  };
};

test('the runs list has every run folder with its kind, models, state and progress', async () => {
  const { status, body } = await get('/api/runs');
  assert.equal(status, 200);
  assert.deepEqual(
    body.runs.map((r: { name: string }) => r.name),
    ['done', 'going'],
  );
  const [done, going] = body.runs;
  assert.deepEqual(
    {
      kind: done.kind,
      models: done.models,
      sources: done.sources,
      state: done.state,
      done: done.done,
      planned: done.planned,
    },
    {
      kind: 'capacity',
      models: ['gutenberg-llama-xs'],
      sources: ['gutenberg-heldout'],
      state: 'finished',
      done: 4,
      planned: 4,
    },
  );
  assert.equal(done.wall_seconds, 60);
  // The running run: a live lock, one record in 10 s of its session → 0.1 items/s, 3 left → ETA 30 s.
  assert.equal(going.state, 'running');
  assert.equal(going.done, 1);
  assert.ok(Math.abs(going.rate - 0.1) < 0.01, String(going.rate));
  assert.ok(Math.abs(going.eta_seconds - 30) < 3, String(going.eta_seconds));
  // Its wall time runs up to now (started 20 s ago), not to its last heartbeat (10 s after the start).
  assert.ok(Math.abs(going.wall_seconds - 20) < 3, String(going.wall_seconds));
});

test("a run page holds the kind's tables and its Vega-Lite figures, made interactive", async () => {
  const { status, body } = await get('/api/runs/done');
  assert.equal(status, 200);
  assert.deepEqual(body.sections.map((s: { title: string }) => s.title).slice(0, 2), [
    'Table 1',
    'Capacity per model, source and K',
  ]);
  assert.match(body.sections[1].html, /<table>.*gutenberg-llama-xs/s);
  const names = body.figures.map((f: { name: string }) => f.name);
  assert.deepEqual(names, [
    'accuracy_vs_length',
    'ce_compressed_vs_original',
    'capacity_vs_vectors',
    'theoretical_vs_achieved',
    'optimization_curves',
  ]);
  const scatter = body.figures[1];
  assert.ok(scatter.spec, 'drawn');
  assert.match(JSON.stringify(scatter.spec), /"bind":"legend"/);
  assert.match(JSON.stringify(scatter.spec), /"title":"text index"/);
  assert.equal(body.texts.total, 4);
  assert.ok(body.texts.columns.includes('sample_index'));
  assert.deepEqual(body.filters, { model: ['gutenberg-llama-xs'], source: ['gutenberg-heldout'], n_mem: [1] });
});

test('filters narrow the records behind tables and figures', async () => {
  const none = (await get('/api/runs/done?model=other')).body;
  assert.equal(none.texts.total, 0);
  assert.ok(
    none.figures.every((f: { skipped?: string }) => f.skipped),
    'every figure says why it is not drawn',
  );
  const some = (await get('/api/runs/done?source=gutenberg-heldout&n_mem=1')).body;
  assert.equal(some.texts.total, 4);
});

test('a clicked point finds its text; the text page shows the text, its regeneration and its curve', async () => {
  const found = (
    await get('/api/runs/done/find?model=gutenberg-llama-xs&source=gutenberg-heldout&n_mem=1&length=8&sample_index=1')
  ).body;
  assert.equal(found.key, 'gutenberg-llama-xs|gutenberg-heldout|L8|K1|i1');
  const t = (await get(`/api/runs/done/text?key=${encodeURIComponent(found.key)}`)).body;
  assert.deepEqual(
    t.tokens.map((x: { id: number }) => x.id),
    ids[1].slice(0, 8),
  );
  assert.equal(t.text_from.startsWith('the source'), true);
  assert.equal(typeof t.text, 'string');
  assert.ok(t.text.length > 0);
  assert.ok(t.facts.some(([k]: [string]) => k.startsWith('Cross-entropy')));
  // Older runs keep no generated ids: the first miss is marked, what was generated there is said to be unknown.
  if (!t.regeneration.exact) {
    assert.equal(t.regeneration.first_miss, t.record.regenerated_prefix_tokens + 1);
    assert.equal(t.regeneration.generated_miss, null);
  }
  assert.equal(t.curve, null, 'only text 0 has a curve');
  const t0 = (
    await get(`/api/runs/done/text?key=${encodeURIComponent('gutenberg-llama-xs|gutenberg-heldout|L8|K1|i0')}`)
  ).body;
  assert.ok(t0.curve.loss.length > 10);
  assert.equal((await get('/api/runs/done/text?key=nope')).status, 404);
  assert.equal((await get('/api/runs/done/find?model=gutenberg-llama-xs&sample_index=9')).status, 404);
});

test('compare: capacities side by side and comparative figures, computed live; the button writes', async () => {
  const { status, body } = await get('/api/compare?runs=done,going');
  assert.equal(status, 200);
  assert.deepEqual(body.runs, ['done', 'going']);
  assert.equal(body.side_by_side.length, 1);
  assert.deepEqual(
    body.side_by_side[0].capacity.map((c: { texts: number }) => c.texts),
    [4, 1],
  );
  assert.ok(body.figures.some((f: { name: string }) => f.name === 'capacity_vs_model'));
  assert.equal(body.duplicates, 1, 'the record in both runs is counted once');
  assert.equal(existsSync(join(root, 'compare-x')), false);
  const w = await app.inject({
    method: 'POST',
    url: '/api/compare',
    payload: { runs: ['done', 'going'], name: 'compare-x' },
  });
  assert.equal(w.statusCode, 201, w.body);
  assert.ok(existsSync(join(root, 'compare-x', 'report.html')));
  const again = await app.inject({
    method: 'POST',
    url: '/api/compare',
    payload: { runs: ['done'], name: 'compare-x' },
  });
  assert.equal(again.statusCode, 409);
  for (const name of ['../x', '/tmp/x', '..']) {
    const bad = await app.inject({ method: 'POST', url: '/api/compare', payload: { runs: ['done'], name } });
    assert.equal(bad.statusCode, 400, name);
  }
});

test('a run folder given as the results folder is a one-line error naming the parent', () => {
  assert.throws(() => buildViewApp(join(root, 'done')), /is a run folder; give the folder that holds it/);
  assert.throws(() => buildViewApp(join(root, 'nothing')), /is not a folder/);
});

test('run names in URLs cannot leave the results folder', async () => {
  for (const url of [
    '/api/runs/..',
    '/api/runs/%2e%2e',
    '/api/runs/not-a-run',
    '/api/runs/..%2f..%2fetc',
    '/api/compare?runs=..',
  ]) {
    const { status } = await get(url);
    assert.ok(status === 400 || status === 403 || status === 404, `${url}: ${status}`);
  }
});

test('files are served from inside the results folder only', async () => {
  const ok = await get('/files/done/report.md');
  assert.equal(ok.status, 200);
  assert.equal(ok.body, '# report\n');
  for (const url of [
    '/files/../etc/passwd',
    '/files/done/../../etc/passwd',
    '/files/%2e%2e/%2e%2e/etc/passwd',
    '/files/..%2f..%2fetc%2fpasswd',
    '/files/%252e%252e%252fetc%252fpasswd',
    '/files//etc/passwd',
    '/files/%2fetc%2fpasswd',
    '/files/done/%00',
    '/files/done\\..\\..\\etc\\passwd',
  ]) {
    const { status, body } = await get(url);
    assert.ok([400, 403, 404].includes(status), `${url}: ${status}`);
    assert.doesNotMatch(String(typeof body === 'string' ? body : JSON.stringify(body)), /root:/);
  }
});

test('the page and the vega bundles come from the server itself (no CDN)', async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.doesNotMatch(page.body, /https?:\/\//);
  for (const lib of ['/lib/vega.js', '/lib/vega-lite.js', '/app/app.js', '/app/style.css'])
    assert.equal((await get(lib)).status, 200, lib);
  assert.equal((await get('/app/../server.ts')).status, 404);
  assert.equal((await get('/lib/other.js')).status, 404);
});

test("a write from another site's page is refused (cross-site request)", async () => {
  const payload = { runs: ['done'], name: 'compare-from-elsewhere' };
  const headers = { origin: 'https://evil.example' };
  const res = await app.inject({ method: 'POST', url: '/api/compare', payload, headers });
  assert.equal(res.statusCode, 403);
  assert.equal(existsSync(join(root, 'compare-from-elsewhere')), false);
  const own = await app.inject({
    method: 'POST',
    url: '/api/compare',
    payload,
    headers: { origin: 'http://127.0.0.1:8788', host: '127.0.0.1:8788' },
  });
  assert.equal(own.statusCode, 201, own.body);
});

test('requests naming another host are refused (DNS rebinding)', async () => {
  assert.equal((await get('/api/runs', { host: 'evil.example:8788' })).status, 403);
  assert.equal((await get('/api/runs', { host: '127.0.0.1:8788' })).status, 200);
  assert.equal((await get('/api/runs', { host: 'localhost:8788' })).status, 200);
});

test('with a token, every request needs it; ?token= once sets a cookie', async () => {
  const guarded = buildViewApp(root, { token: 'secret-token-1' });
  try {
    assert.equal((await guarded.inject({ url: '/api/runs', headers: { host: 'box.lan' } })).statusCode, 401);
    assert.equal(
      (await guarded.inject({ url: '/api/runs', headers: { authorization: 'Bearer wrong-token-1' } })).statusCode,
      401,
    );
    assert.equal(
      (
        await guarded.inject({
          url: '/api/runs',
          headers: { authorization: 'Bearer secret-token-1', host: 'box.lan' },
        })
      ).statusCode,
      200,
    );
    const first = await guarded.inject({ url: '/?token=secret-token-1' });
    assert.equal(first.statusCode, 200);
    const cookie = String(first.headers['set-cookie']).split(';')[0];
    assert.equal((await guarded.inject({ url: '/api/runs', headers: { cookie } })).statusCode, 200);
  } finally {
    await guarded.close();
  }
});

test('every experiment kind gets a run page, even before its first record', async () => {
  const kinds = mkdtempSync(join(tmpdir(), 'cram-view-kinds-'));
  for (const kind of KIND_NAMES) {
    mkdirSync(join(kinds, kind));
    writeFileSync(
      join(kinds, kind, 'config.yaml'),
      `experiment: ${kind}\nname: ${kind}\nmodels: [gutenberg-llama-xs]\n`,
    );
  }
  const kindsApp = buildViewApp(kinds);
  try {
    const runs = (await kindsApp.inject({ url: '/api/runs' })).json().runs;
    assert.deepEqual(runs.map((r: { kind: string }) => r.kind).sort(), [...KIND_NAMES].sort());
    for (const kind of KIND_NAMES) {
      const res = await kindsApp.inject({ url: `/api/runs/${kind}` });
      assert.equal(res.statusCode, 200, `${kind}: ${res.body.slice(0, 200)}`);
      assert.equal(res.json().run.kind, kind);
      assert.equal(res.json().texts.total, 0);
    }
  } finally {
    await kindsApp.close();
  }
});
