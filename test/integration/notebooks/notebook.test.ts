/**
 * The notebook cannot rot: its code cells are concatenated and executed (tslab's display replaced by a recorder)
 * against a small results.csv, and they must draw an SVG chart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toCsv } from '../../../src/results/csv.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

test('notebooks/analyze-run.ipynb runs on a results.csv and draws its chart', () => {
  const run = mkdtempSync(join(tmpdir(), 'cram-nb-'));
  const rows = [];
  for (const length of [4, 8, 16])
    for (const n_mem of [1, 4])
      for (let i = 0; i < 3; i++) {
        rows.push({
          model: 'm',
          source: 'gutenberg-heldout',
          length,
          n_mem,
          best_accuracy: length <= 4 * n_mem ? 1 : 0.7,
          original_accuracy: 0.3,
          info_gain_nats: 20,
          regenerated_exact: length <= 4 * n_mem && i > 0,
        });
      }
  writeFileSync(join(run, 'results.csv'), toCsv(rows));
  const nb = JSON.parse(readFileSync(join(ROOT, 'notebooks', 'analyze-run.ipynb'), 'utf8'));
  const code = nb.cells
    .filter((c: { cell_type: string }) => c.cell_type === 'code')
    .map((c: { source: string[] }) => c.source.join(''))
    .join('\n;\n');
  const shim =
    "const tslab = { display: { html: (s: string) => console.log('DISPLAY_HTML ' + s.length + ' ' + (s.includes('<svg') ? 'svg' : 'no-svg')) } };\n";
  const script = join(ROOT, 'notebooks', `.notebook-test-${process.pid}.ts`);
  writeFileSync(script, shim + code.replace("import * as tslab from 'tslab';", '') + '\nexport {};\n');
  try {
    const out = execFileSync('node', ['--import', 'tsx', script], {
      cwd: join(ROOT, 'notebooks'),
      encoding: 'utf8',
      env: { ...process.env, CRAM_RUN: run },
    });
    assert.match(out, /18 texts, models: m/);
    assert.match(out, /gutenberg-heldout K=4 L=16: accuracy 1\.000, exact 0\.67/);
    assert.match(out, /DISPLAY_HTML \d+ svg/);
  } finally {
    rmSync(script, { force: true });
    rmSync(run, { recursive: true });
  }
});
