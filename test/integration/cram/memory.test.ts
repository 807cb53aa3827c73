/** A long cramming run keeps memory flat: 300 steps of a batch, after a warm-up, grow RSS by less than 40 MB. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { cramAll, PAPER_SETTINGS, type CramJob, type CramSettings } from '../../../src/cram/cram.ts';
import { bundled, compiled } from '../../helpers.ts';

const engine = compiled(bundled('gutenberg-llama-xs'));
const rng = seedrandom('memory-test');
const text = (n: number) => [0, ...Array.from({ length: n - 1 }, () => 2 + Math.floor(rng() * 8000))];
const JOBS: CramJob[] = [6, 9, 12, 16].map((n, i) => ({ key: `t${i}`, ids: text(n), nMem: 2 }));
const SETTINGS: CramSettings = { ...PAPER_SETTINGS, patience: 1000, recordTrajectory: false };

test('a long run keeps memory flat (no growth per step once shapes repeat)', async () => {
  const e = await engine;
  const jobs = (tag: string) => JOBS.map((j) => ({ ...j, key: `${tag}-${j.key}` }));
  await cramAll(e, jobs('warm'), { ...SETTINGS, maxSteps: 30 });
  global.gc?.();
  const before = process.memoryUsage().rss;
  await cramAll(e, jobs('long'), { ...SETTINGS, maxSteps: 300 });
  global.gc?.();
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  assert.ok(grown < 40, `RSS grew by ${grown.toFixed(1)} MB over 300 steps`);
});
