/**
 * configs/one-step.yaml, reduced (the small model, 4 texts at 2 lengths, m per text and shared by groups of 2, the
 * autoregressive comparison with K = 1, 3 texts per batch and a small token budget so that groups queue, no decode
 * timing), gives the records captured from the code before the optimisers shared one batching loop (branch batchloop,
 * before src/cram/batch-loop.ts): one_step.jsonl, one_step_curves.jsonl and the grid's capacity_samples.jsonl.
 * Tolerances: see golden.ts. Fixture written by this test with UPDATE_FIXTURE=1:
 *   UPDATE_FIXTURE=1 CRAM_THREADS=1 node --import tsx --test test/integration/experiments/one-step-records.test.ts
 */
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { fixture } from '../../helpers.ts';
import { checkGolden, runReduced } from './golden.ts';

const CONFIG = new URL('../../../configs/one-step.yaml', import.meta.url);
const REDUCED = {
  name: 'one-step-reduced',
  models: ['gutenberg-llama-s'],
  lengths: [4, 8],
  n_mem: [1],
  samples: 4,
  m_sharing: ['per_text', 'shared'],
  m_group_size: 2,
  compare_autoregressive: true,
  timing_samples: 0,
  max_steps: 40,
  patience: 12,
  curves: 1,
  batch: { max_texts: 3, max_tokens: 24 },
  backend: 'cpu',
  seed: 3,
};
const key = (l: Record<string, unknown>) =>
  `${l.file}|${l.model}|${l.source}|L${l.length}|K${l.n_mem ?? ''}|${l.m_sharing ?? ''}|i${l.sample_index}`;

const TITLE = 'configs/one-step.yaml (reduced) gives the records captured before the shared batching loop';
test(TITLE, { timeout: 300_000 }, async () => {
  const config = { ...YAML.parse(readFileSync(CONFIG, 'utf8')), ...REDUCED };
  const files = ['one_step.jsonl', 'one_step_curves.jsonl', 'capacity_samples.jsonl'];
  checkGolden(fixture('one-step-reduced-records.jsonl'), await runReduced(config, files, key), key);
});
