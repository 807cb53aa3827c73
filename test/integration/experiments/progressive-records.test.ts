/**
 * configs/progressive.yaml, reduced (the small model, 2 texts, 2 values of K, short stages, the doubling schedule with
 * bisection and optimizer restarts, 2 texts per batch and a token budget small enough to step batches in chunks),
 * gives the records captured from the code before the optimisers shared one batching loop (branch batchloop, before
 * src/cram/batch-loop.ts): progressive.jsonl, stages.jsonl, progressive_curves.jsonl and the grid's
 * capacity_samples.jsonl. Tolerances: see golden.ts. Fixture written by this test with UPDATE_FIXTURE=1:
 *   UPDATE_FIXTURE=1 CRAM_THREADS=1 node --import tsx --test test/integration/experiments/progressive-records.test.ts
 */
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { fixture } from '../../helpers.ts';
import { checkGolden, runReduced } from './golden.ts';

const CONFIG = new URL('../../../configs/progressive.yaml', import.meta.url);
const REDUCED = {
  name: 'progressive-reduced',
  models: ['gutenberg-llama-s'],
  lengths: [4, 8],
  target_length: 12,
  n_mem: [1, 2],
  samples: 2,
  schedule: 'doubling',
  start_length: 2,
  step: 1,
  stage_steps: 30,
  text_steps: 240,
  lr_reset: true,
  max_steps: 30,
  patience: 12,
  curves: 1,
  batch: { max_texts: 2, max_tokens: 20 },
  backend: 'cpu',
  seed: 3,
};
const key = (l: Record<string, unknown>) =>
  `${l.file}|${l.model}|${l.source}|${l.length ?? ''}|K${l.n_mem}|i${l.sample_index}`;

const TITLE = 'configs/progressive.yaml (reduced) gives the records captured before the shared batching loop';
test(TITLE, { timeout: 300_000 }, async () => {
  const config = { ...YAML.parse(readFileSync(CONFIG, 'utf8')), ...REDUCED };
  const files = ['progressive.jsonl', 'stages.jsonl', 'progressive_curves.jsonl', 'capacity_samples.jsonl'];
  checkGolden(fixture('progressive-reduced-records.jsonl'), await runReduced(config, files, key), key);
});
