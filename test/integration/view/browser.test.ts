/**
 * `cram view` in a real browser: Debian's system Chromium, headless, driven by playwright-core (nothing downloaded),
 * against a server on 127.0.0.1 over a small capacity run made here (gutenberg-llama-xs, two texts, a few steps).
 * The runs page lists the runs; a run page draws its figures (SVG, no console errors); clicking a point of the
 * CE scatter opens that text's page with that text; a run still going updates without a reload; compare shows both
 * runs' capacities. Without Chromium it skips with one line, except in CI (CI=true or CRAM_REQUIRE_CHROMIUM=1),
 * where that is a failure.
 * CRAM_VIEW_SHOTS=<folder> saves a screenshot of each page there (how docs/img/viewer-run.png was made).
 */
import { strict as assert } from 'node:assert';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runExperiment } from '../../../src/run/harness.ts';
import { describeModel, loadSourceTexts, loadTokenizer, sourceSpec } from '../../../src/view/harness.ts';
import { startViewer, type Viewer } from '../../../src/view/start.ts';

// CHROMIUM_PATH, when set, is the only candidate (a wrong one skips, or fails in CI, rather than being ignored).
const CANDIDATES = process.env.CHROMIUM_PATH
  ? [process.env.CHROMIUM_PATH]
  : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const CHROMIUM = CANDIDATES.find((p) => existsSync(p));
const required = process.env.CI === 'true' || process.env.CRAM_REQUIRE_CHROMIUM === '1';
if (!CHROMIUM && required)
  throw new Error('no chromium found, and CI=true (or CRAM_REQUIRE_CHROMIUM=1): apt-get install chromium');
const skip = CHROMIUM ? false : 'no system chromium (apt-get install chromium, or set CHROMIUM_PATH)';
const shots = process.env.CRAM_VIEW_SHOTS;

let root = '';
let viewer: Viewer;
let browser: Browser;
let page: Page;
const problems: string[] = [];

async function shot(name: string) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `viewer-${name}.png`), fullPage: name !== 'run' });
}

async function open(hash: string, ready: string) {
  await page.goto(`${viewer.url}${hash}`);
  await page.waitForSelector(`main[data-ready="${ready}"]`, { timeout: 60_000 });
}

describe('cram view in headless Chromium', { skip }, () => {
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'cram-view-browser-'));
    const config = join(root, 'a.yaml');
    writeFileSync(
      config,
      [
        'name: a',
        'models: [gutenberg-llama-xs]',
        'sources: [gutenberg-heldout, random-words]',
        'lengths: [4, 8]',
        'n_mem: [1]',
        'samples: 2',
        'random_samples: 2',
        'random_max_length: 8',
        'max_steps: 12',
        'patience: 12',
        'curves: 1',
        'backend: cpu',
        `output_dir: ${JSON.stringify(join(root, 'results'))}`,
        '',
      ].join('\n'),
    );
    await runExperiment(config, { quiet: true, signals: false });
    const results = join(root, 'results');
    // A second finished run to compare with, and a run "still going": one record so far, a live lock, no end line.
    cpSync(join(results, 'a'), join(results, 'b'), { recursive: true });
    cpSync(join(results, 'a'), join(results, 'live'), { recursive: true });
    const records = readFileSync(join(results, 'a', 'samples.jsonl'), 'utf8')
      .trim()
      .split('\n');
    writeFileSync(join(results, 'live', 'samples.jsonl'), `${records[0]}\n`);
    const now = new Date().toISOString();
    writeFileSync(
      join(results, 'live', 'sessions.jsonl'),
      `${JSON.stringify({ session: 'live-1', event: 'start', at: now })}\n`,
    );
    writeFileSync(
      join(results, 'live', '.lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), started: now, alive: now, command: 'test' }),
    );
    viewer = await startViewer(results, { port: 0, host: '127.0.0.1', pollMs: 300 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });

  after(async () => {
    await browser?.close();
    await viewer?.close();
  });

  test('the runs page lists every run with its state', async () => {
    await open('#/', 'runs');
    const rows = await page.$$eval('table.runs tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.run));
    assert.deepEqual(rows, ['a', 'b', 'live']);
    assert.equal(await page.textContent('tr[data-run="a"] .state'), 'finished');
    assert.equal(await page.textContent('tr[data-run="live"] .state'), 'running');
    await shot('runs');
    assert.deepEqual(problems, []);
  });

  test('a run page draws its figures as SVG, without console errors', async () => {
    await open('#/run/a', 'run');
    const drawn = await page.$$eval('.figure .chart', (els) =>
      els.map((e) => ({
        rendered: (e as HTMLElement).dataset.rendered,
        marks: e.querySelectorAll('svg .mark-symbol path, svg .mark-line path, svg .mark-rect path').length,
      })),
    );
    assert.ok(drawn.length >= 4, `${drawn.length} figures`);
    for (const d of drawn) {
      assert.equal(d.rendered, 'true');
      assert.ok(d.marks > 0, 'a figure with marks');
    }
    assert.match((await page.textContent('main')) ?? '', /Table 1/);
    // Legend selection: clicking a source's legend entry fades the other source's points; clicking it again shows all.
    const scatter = page.locator('.figure[data-name="ce_compressed_vs_original"]');
    const faded = async () =>
      (await scatter.locator('.mark-symbol path').evaluateAll((ps) => ps.map((p) => p.getAttribute('opacity')))).filter(
        (o) => o === '0.08',
      ).length;
    assert.equal(await faded(), 0);
    const entry = scatter.locator('.role-legend-label text', { hasText: 'random-words' }).first();
    await entry.click();
    await page.waitForFunction(
      () =>
        document.querySelectorAll('.figure[data-name="ce_compressed_vs_original"] .mark-symbol path[opacity="0.08"]')
          .length > 0,
    );
    assert.equal(await faded(), 4, 'the held-out points (2 texts × 2 lengths) fade');
    await entry.click();
    await page.waitForFunction(
      () =>
        document.querySelectorAll('.figure[data-name="ce_compressed_vs_original"] .mark-symbol path[opacity="0.08"]')
          .length === 0,
    );
    await shot('run');
    assert.deepEqual(problems, []);
  });

  test("hovering a point names its text; clicking it opens that text's page with that text", async () => {
    await open('#/run/a', 'run');
    // The first point of a held-out text (its text can be read again here to check the page).
    const points = page.locator('.figure[data-name="ce_compressed_vs_original"] .mark-symbol path');
    let tip: Record<string, string> = {};
    let point = points.first();
    for (let i = 0; i < (await points.count()); i++) {
      point = points.nth(i);
      await point.hover();
      await page.waitForSelector('#tooltip:not([hidden])');
      tip = await page.$$eval('#tooltip tr', (trs) =>
        Object.fromEntries(
          trs.map((tr) => [tr.querySelector('th')?.textContent ?? '', tr.querySelector('td')?.textContent ?? '']),
        ),
      );
      if (tip.source === 'gutenberg-heldout') break;
    }
    assert.equal(tip.source, 'gutenberg-heldout');
    for (const k of ['model', 'source', 'K', 'length', 'text index'])
      assert.ok(k in tip, `${k} in the tooltip: ${JSON.stringify(tip)}`);
    await point.click();
    await page.waitForFunction(() => location.hash.includes('/text?key='));
    await page.waitForSelector('main[data-ready="text"]');
    const key = decodeURIComponent(await page.evaluate(() => location.hash.split('key=')[1]));
    assert.equal(key, `gutenberg-llama-xs|gutenberg-heldout|L${tip.length}|K${tip.K}|i${tip['text index']}`);
    // The text shown is the source's text at that index, cut to that length, as the model's tokenizer reads it.
    const tok = loadTokenizer(describeModel('gutenberg-llama-xs'));
    const ids = loadSourceTexts(sourceSpec('gutenberg-heldout'), tok, { count: 2, maxLength: 8 })[
      Number(tip['text index'])
    ].ids;
    const shown = (await page.textContent('#tokens'))!.replace('⟨BOS⟩', '');
    assert.equal(shown, tok.decode(ids.slice(0, Number(tip.length))));
    assert.ok(await page.$('a.download'), 'a link to its vector file');
    const href = await page.getAttribute('a.download', 'href');
    const res = await page.request.get(`${viewer.url.replace(/\/$/, '')}${href}`);
    assert.equal(res.status(), 200);
    await shot('text');
    assert.deepEqual(problems, []);
  });

  test('a run still going updates without a reload', async () => {
    await open('#/run/live', 'run');
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    assert.match((await page.textContent('main h2:has-text("Texts")')) ?? '', /1 of 1/);
    const dir = join(viewer.root, 'live');
    const next = readFileSync(join(viewer.root, 'a', 'samples.jsonl'), 'utf8')
      .trim()
      .split('\n')[1];
    appendFileSync(join(dir, 'samples.jsonl'), `${next}\n`);
    appendFileSync(
      join(dir, 'sessions.jsonl'),
      `${JSON.stringify({ session: 'live-1', event: 'alive', at: new Date().toISOString(), records: 2 })}\n`,
    );
    await page.waitForFunction(() => /2 of 2/.test(document.querySelector('main')?.textContent ?? ''), undefined, {
      timeout: 30_000,
    });
    assert.equal(
      await page.evaluate(() => (window as unknown as { marker: number }).marker),
      42,
      'the page was not reloaded',
    );
    assert.match((await page.textContent('#runline')) ?? '', /2 \/ 6/);
    assert.deepEqual(problems, []);
  });

  test("compare shows both runs' capacities and the comparative figures", async () => {
    await open('#/compare?runs=a,b', 'compare');
    const head = await page.$$eval('table.side th', (ths) => ths.map((t) => t.textContent));
    assert.ok(head.includes('a: capacity (texts)') && head.includes('b: capacity (texts)'), JSON.stringify(head));
    const cells = await page.$$eval('table.side tr:nth-child(2) td.num', (tds) => tds.map((t) => t.textContent));
    assert.equal(cells.length, 2);
    assert.equal(cells[0], cells[1], 'the same run copied: the same capacity');
    assert.ok(await page.$('.figure[data-name="capacity_vs_model"]'));
    // The button writes what cram compare writes, into the results folder.
    await page.click('#cmp-write');
    await page.waitForFunction(() =>
      /written: compare-a-b\//.test(document.getElementById('cmp-written')?.textContent ?? ''),
    );
    assert.ok(existsSync(join(viewer.root, 'compare-a-b', 'report.html')));
    await shot('compare');
    assert.deepEqual(problems, []);
  });
});
