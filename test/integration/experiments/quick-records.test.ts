/**
 * The default experiment (configs/quick.yaml), reduced to fewer texts and steps, gives the same records as the code
 * before the harness was restructured (fixture captured from main at 13008b6, on the tfjs engine): every field but
 * timing matches — on the ONNX Runtime engine too: floats within 1.2e-5 relative, no discrete outcome different.
 * Refresh the fixture only on purpose (a change that is meant to change records): UPDATE_FIXTURE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { runExperiment } from '../../../src/run/harness.ts';
import type { SampleRecord } from '../../../src/results/sample-record.ts';
import { fixture, ready } from '../../helpers.ts';

const QUICK = new URL('../../../configs/quick.yaml', import.meta.url);
const FIXTURE = fixture('quick-reduced-records.jsonl');
/** quick.yaml as it is, with fewer texts and steps so the test takes seconds. */
const REDUCED = { name: 'quick-reduced', samples: 2, random_samples: 2, max_steps: 24, patience: 10, backend: 'cpu' };

const key = (r: SampleRecord) => `${r.model}|${r.source}|${r.length}|${r.n_mem}|${r.sample_index}`;
const stable = ({ seconds: _s, ...rest }: SampleRecord) => rest;

test(
  'configs/quick.yaml (reduced) gives the records captured before the restructuring',
  { timeout: 300_000 },
  async (t) => {
    await ready;
    const work = mkdtempSync(join(tmpdir(), 'cram-quick-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const config = { ...YAML.parse(readFileSync(QUICK, 'utf8')), ...REDUCED, output_dir: join(work, 'results') };
    const file = join(work, 'quick-reduced.yaml');
    writeFileSync(file, YAML.stringify(config));
    const r = await runExperiment<SampleRecord>(file, { quiet: true });
    const got = r.records.map(stable).sort((a, b) => key(a as SampleRecord).localeCompare(key(b as SampleRecord)));
    if (process.env.UPDATE_FIXTURE === '1') writeFileSync(FIXTURE, got.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const want = readFileSync(FIXTURE, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      const g = got[i] as Record<string, unknown>;
      const w = want[i];
      assert.deepEqual(
        Object.keys(g).sort(),
        Object.keys(w).sort(),
        `fields of ${w.source} L${w.length} K${w.n_mem} #${w.sample_index}`,
      );
      for (const [k, v] of Object.entries(w)) {
        // Floats to 1e-4 relative (the fixture's engine, or another machine's kernels, sum in another order: 24 AdamW
        // steps later that is ~1e-5); everything else exactly.
        if (typeof v === 'number' && !Number.isInteger(v)) {
          assert.ok(
            Math.abs((g[k] as number) - v) <= 1e-4 * Math.max(1, Math.abs(v)),
            `${k} of ${key(w as unknown as SampleRecord)}: ${g[k]} vs ${v}`,
          );
        } else assert.deepEqual(g[k], v, `${k} of ${key(w as unknown as SampleRecord)}`);
      }
    }
  },
);
