import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCapacityReport as writeReport } from '../../src/experiments/kinds/capacity/report.ts';
import { compareRuns } from '../../src/run/compare.ts';
import { syntheticCurves, syntheticRecords } from './synthetic.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function checkFigureFiles(svg: string, png: string): void {
  const svgText = readFileSync(svg, 'utf8');
  assert.ok(svgText.startsWith('<svg'), `${svg} is not an SVG`);
  assert.ok(svgText.includes('<text'), `${svg} has no text`);
  const pngBuf = readFileSync(png);
  assert.ok(pngBuf.length > 1000, `${png} is too small`);
  assert.ok(pngBuf.subarray(0, 8).equals(PNG_SIGNATURE), `${png} lacks the PNG signature`);
}

test('writeReport renders every figure, the tables and report.md/html', async () => {
  // 2 models × 2 sources × 3 lengths × 2 K = 24 texts, plus a few curves.
  const records = syntheticRecords({ lengths: [32, 64, 128], nMem: [1, 2], samplesPerLength: 1 });
  records.push(...syntheticRecords({ lengths: [64], nMem: [1], samplesPerLength: 3, seed: 7 }).slice(0, 6));
  assert.ok(records.length >= 28);
  const curves = syntheticCurves(records, 3, 120);
  const dir = mkdtempSync(join(tmpdir(), 'cram-report-'));
  try {
    const res = await writeReport(dir, {
      records,
      curves,
      config: { experiment: 'synthetic', lengths: [32, 64, 128] },
      environment: { node: process.version },
      wallSeconds: 12.5,
    });
    assert.deepEqual(
      res.figures.map((f) => f.name),
      [
        'accuracy_vs_length',
        'ce_compressed_vs_original',
        'capacity_vs_vectors',
        'theoretical_vs_achieved',
        'optimization_curves',
      ],
    );
    for (const f of res.figures) {
      assert.equal(f.skipped, undefined, `${f.name} skipped: ${f.skipped}`);
      checkFigureFiles(f.svg!, f.png!);
    }
    for (const name of ['capacity.csv', 'table1.csv', 'table1.md', 'report.md', 'report.html']) {
      assert.ok(statSync(join(dir, name)).size > 0, `${name} empty`);
    }
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    for (const f of res.figures) {
      assert.ok(md.includes(`figures/${f.name}.png`), `report.md lacks ${f.name}`);
      assert.ok(md.includes(f.title), `report.md lacks the title of ${f.name}`);
    }
    assert.match(md, /"experiment": "synthetic"/);
    assert.match(md, /12\.5 s/);
    assert.match(md, /\| gutenberg-heldout \(K = 1\) \| Max, tokens \|/);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.equal(html.match(/<svg/g)?.length, 5);
    assert.match(html, /<h2>Table 1<\/h2>[\s\S]*<td>gutenberg-heldout \(K = 1\)<\/td>\s*<td>Max, tokens<\/td>/);
    assert.ok(!html.includes('src="figures/'), 'HTML must not depend on figure files');
    const capCsv = readFileSync(join(dir, 'capacity.csv'), 'utf8').trim().split('\n');
    assert.match(capCsv[0]!, /^model,source,n_mem,/);
    assert.equal(capCsv.length, 1 + 2 * 2 * 2);
    const t1 = readFileSync(join(dir, 'table1.csv'), 'utf8').trim().split('\n');
    assert.equal(t1[0], 'source,n_mem,metric,pythia-s,llama-m');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('figures without data are skipped and said so', async () => {
  const records = syntheticRecords({
    lengths: [32, 64],
    nMem: [1],
    models: [{ model: 'only', embed_dim: 64, embedding_rows: 512, natsPerVector: 100 }],
  });
  const dir = mkdtempSync(join(tmpdir(), 'cram-report-'));
  try {
    const res = await writeReport(dir, { records, curves: [] });
    const skipped = Object.fromEntries(res.figures.filter((f) => f.skipped).map((f) => [f.name, f.skipped]));
    assert.match(skipped.capacity_vs_vectors ?? '', /two values of K/);
    assert.match(skipped.optimization_curves ?? '', /no curves/);
    assert.ok(!existsSync(join(dir, 'figures', 'capacity_vs_vectors.svg')));
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(md, /Not drawn \(`capacity_vs_vectors`\)/);
    assert.match(md, /Wall time\n\nNot recorded\./);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compareRuns merges samples.jsonl of several runs and adds capacity vs model', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cram-compare-'));
  try {
    const a = syntheticRecords({
      lengths: [32, 64],
      nMem: [1],
      run: 'a',
      models: [{ model: 'small', embed_dim: 256, embedding_rows: 1000, natsPerVector: 150 }],
    });
    const b = syntheticRecords({
      lengths: [32, 64],
      nMem: [1],
      run: 'b',
      models: [{ model: 'large', embed_dim: 1024, embedding_rows: 1000, natsPerVector: 400 }],
    });
    for (const [name, rs] of [
      ['a', a],
      ['b', b],
    ] as const) {
      writeFileSync(join(root, `${name}.jsonl`), '');
      const dir = join(root, name);
      (await import('node:fs')).mkdirSync(dir);
      writeFileSync(join(dir, 'samples.jsonl'), rs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    }
    // The same record twice (run b's file repeated in c) is counted once.
    (await import('node:fs')).mkdirSync(join(root, 'c'));
    writeFileSync(join(root, 'c', 'samples.jsonl'), JSON.stringify(b[0]) + '\n');
    const out = join(root, 'cmp');
    const res = await compareRuns([join(root, 'a'), join(root, 'b'), join(root, 'c')], out);
    assert.equal(res.duplicates, 1);
    const fig = res.figures.find((f) => f.name === 'capacity_vs_model')!;
    assert.ok(fig && !fig.skipped);
    checkFigureFiles(fig.svg!, fig.png!);
    const cap = readFileSync(join(out, 'capacity.csv'), 'utf8');
    assert.match(cap, /\nsmall,/);
    assert.match(cap, /\nlarge,/);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /figures\/capacity_vs_model\.png/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
