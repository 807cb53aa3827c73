/**
 * The follow-ups' experiment kinds end to end: `progressive` killed with SIGKILL in its grid phase and in its
 * progressive phase, then resumed (a record per text; nothing repeated, nothing lost; horizons check out against the
 * saved vectors), and `one-step` with shared m groups (a missing record reruns its group and comes back identical; the
 * saved vectors re-evaluate to the recorded accuracy).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configWriter, killWhen, lines, workFolder } from './setup.ts';
import { evaluateOneStep } from '../../../src/cram/one-step.ts';
import { regenerate } from '../../../src/cram/regenerate.ts';
import { readVectorFile } from '../../../src/cram/vector-file.ts';
import { loadSourceTexts } from '../../../src/data/sources.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import { prepareExperiment } from '../../../src/run/prepare.ts';
import type { OneStepRecord } from '../../../src/experiments/kinds/one-step/records.ts';
import type { ProgressiveRecord } from '../../../src/experiments/kinds/progressive/records.ts';
import { bundled, open, ready } from '../../helpers.ts';

const work = workFolder('followups');
const results = join(work, 'results');
const model = open(bundled('gutenberg-llama-xs'), { tokenizer: true });
const writeConfig = configWriter(work, {
  backend: 'cpu',
  models: ['gutenberg-llama-xs'],
  sources: ['gutenberg-heldout'],
  seed: 2,
});

test("the kinds' own fields are validated before anything is written", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { experiment: 'progressive', lengths: [4, 8], target_length: 6 },
      /target_length: 6 is shorter than the largest of lengths \(8\)/,
    ],
    [
      { experiment: 'progressive', lengths: [4], sources: ['random-words'] },
      /random-words texts have their own short lengths/,
    ],
    [{ experiment: 'progressive', lengths: [4], schedule: 'exponential' }, /schedule/],
    [{ experiment: 'progressive', lengths: [4], start_length: 8 }, /start_length: 8 is longer than the target/],
    [{ experiment: 'one-step', lengths: [4], m_sharing: ['shared', 'shared'] }, /m_sharing/],
    [{ experiment: 'one-step', lengths: [4], stage_steps: 10 }, /stage_steps/],
  ];
  for (const [fields, pattern] of cases) {
    const file = writeConfig('invalid', { samples: 2, ...fields });
    assert.throws(
      () => prepareExperiment(file, { quiet: true }),
      (e: Error) => pattern.test(e.message),
      JSON.stringify(fields),
    );
  }
  assert.equal(existsSync(join(results, 'invalid')), false);
  const ok = prepareExperiment(
    writeConfig('valid', { experiment: 'progressive', lengths: [4, 8], n_mem: [1, 2], samples: 2 }),
    { quiet: true },
  );
  assert.deepEqual(
    ok.models[0].items.map((i) => i.key),
    [
      'gutenberg-llama-xs|gutenberg-heldout|K1|i0',
      'gutenberg-llama-xs|gutenberg-heldout|K1|i1',
      'gutenberg-llama-xs|gutenberg-heldout|K2|i0',
      'gutenberg-llama-xs|gutenberg-heldout|K2|i1',
    ],
  );
});

test('progressive: killed in the grid phase and in the progressive phase, resumed: each text once, horizons match the saved vectors', async () => {
  const config = writeConfig('prog', {
    experiment: 'progressive',
    lengths: [4, 8],
    n_mem: [1, 2],
    samples: 3,
    max_steps: 60,
    patience: 30,
    stage_steps: 30,
    text_steps: 150,
    curves: 1,
    batch: { max_texts: 2, max_tokens: 256 },
  });
  const dir = join(results, 'prog');
  const grid = join(dir, 'capacity_samples.jsonl');
  const recs = join(dir, 'progressive.jsonl');
  const gridBefore = await killWhen(config, grid, 2);
  assert.ok(gridBefore >= 2 && gridBefore < 12, `killed in the grid phase after ${gridBefore} of 12 grid texts`);
  assert.equal(lines(recs).length, 0);
  const before = await killWhen(config, recs, 1);
  assert.ok(before >= 1 && before < 6, `killed after ${before} of 6 texts`);
  assert.equal(lines(grid).length, 12, 'the grid finished before the progressive phase');
  await ready;
  const r = await runExperiment<ProgressiveRecord>(config, { quiet: true });
  assert.equal(r.ranNow, 6 - before, 'only unfinished texts ran');
  const keys = r.records.map((x) => `${x.n_mem}|${x.sample_index}`);
  assert.equal(new Set(keys).size, 6);
  const gridKeys = lines(grid).map((l) => {
    const x = JSON.parse(l);
    return `${x.n_mem}|${x.length}|${x.sample_index}`;
  });
  assert.equal(gridKeys.length, 12, 'no grid text ran twice');
  assert.equal(new Set(gridKeys).size, 12);
  for (const f of [
    'report.md',
    'horizons.csv',
    'grid_capacity.csv',
    'figures/horizon_distribution.png',
    'figures/horizon_vs_grid.png',
  ])
    assert.ok(existsSync(join(dir, f)), f);
  // Each horizon is what greedy regeneration from the saved vectors gives on the text.
  const { compiled, tokenizer } = await model;
  const texts = loadSourceTexts({ kind: 'gutenberg-heldout' }, tokenizer!, { count: 3, maxLength: 8 });
  for (const rec of r.records) {
    const { memory, meta } = readVectorFile(join(dir, rec.vector_file));
    const ids = texts.find((t) => t.index === rec.sample_index)!.ids;
    assert.equal(meta.n_tokens, 8);
    const regen = await regenerate(compiled, memory, rec.n_mem, ids);
    assert.equal(1 + regen.regenerated_prefix_tokens, rec.horizon, `K=${rec.n_mem} #${rec.sample_index}`);
    assert.ok(rec.grid_exact_max !== null && rec.grid_exact_max <= 8);
  }
});

test('one-step with shared m: a missing record reruns its group and comes back the same; saved vectors re-evaluate to the record', async () => {
  await ready;
  const config = writeConfig('onestep', {
    experiment: 'one-step',
    lengths: [4, 6],
    n_mem: [1],
    samples: 3,
    max_steps: 40,
    patience: 20,
    m_sharing: ['per_text', 'shared'],
    m_group_size: 2,
    timing_samples: 1,
    timing_repeats: 1,
    curves: 1,
  });
  const dir = join(results, 'onestep');
  const first = await runExperiment<OneStepRecord>(config, { quiet: true });
  assert.equal(first.records.length, 12); // 2 lengths × 3 texts × 2 ways of m
  const shared = first.records.filter((x) => x.m_sharing === 'shared');
  assert.deepEqual(shared.map((x) => x.group_size).sort(), [1, 1, 2, 2, 2, 2]);
  assert.equal(lines(join(dir, 'capacity_samples.jsonl')).length, 6, 'the autoregressive grid: 2 lengths × 3 texts');
  // Drop one member of a 2-text group: the rerun trains the group again and records only that member, identically.
  const file = join(dir, 'one_step.jsonl');
  const all = lines(file);
  const victim = all.findIndex((l) => {
    const x = JSON.parse(l) as OneStepRecord;
    return x.m_sharing === 'shared' && x.group_size === 2;
  });
  writeFileSync(file, all.filter((_, i) => i !== victim).join('\n') + '\n');
  const again = await runExperiment<OneStepRecord>(config, { quiet: true });
  assert.equal(again.ranNow, 1);
  assert.equal(lines(file).length, 12);
  const strip = ({
    seconds: _s,
    decode_onepass_ms: _a,
    decode_greedy_ms: _b,
    decode_speedup: _c,
    decode_onepass_min_ms: _d,
    decode_greedy_min_ms: _e,
    ...rest
  }: OneStepRecord) => rest;
  const [was, now] = [strip(JSON.parse(all[victim])), strip(JSON.parse(lines(file)[11]))];
  // Equal up to float noise: the group now runs alone, before it shared its batch (padding) with others.
  for (const k of Object.keys(was) as (keyof typeof was)[]) {
    const [a, b] = [now[k], was[k]];
    if (typeof a === 'number' && typeof b === 'number' && !Number.isInteger(b))
      assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b), `${k}: ${a} vs ${b}`);
    else assert.deepEqual(a, b, k);
  }
  // The kept vectors give back the recorded accuracy; timing was measured for the first text of each (length, m).
  const { compiled, tokenizer } = await model;
  const texts = loadSourceTexts({ kind: 'gutenberg-heldout' }, tokenizer!, { count: 3, maxLength: 6 });
  const recs = again.records;
  const evals = await evaluateOneStep(
    compiled,
    recs.map((rec) => {
      const { memory } = readVectorFile(join(dir, rec.vector_file));
      const d = memory.length / 2;
      return {
        e: memory.slice(0, d),
        m: memory.slice(d),
        targets: texts.find((t) => t.index === rec.sample_index)!.ids.slice(1, rec.length),
      };
    }),
  );
  recs.forEach((rec, i) =>
    assert.equal(evals[i].accuracy, rec.best_accuracy, `${rec.m_sharing} L${rec.length} #${rec.sample_index}`),
  );
  assert.equal(recs.filter((x) => x.decode_onepass_ms !== null && x.decode_greedy_ms !== null).length, 4);
  for (const f of [
    'report.md',
    'one_step_capacity.csv',
    'decode_time.csv',
    'figures/one_step_accuracy_vs_length.png',
    'figures/decode_time.png',
  ])
    assert.ok(existsSync(join(dir, f)), f);
  assert.match(readFileSync(join(dir, 'report.md'), 'utf8'), /One-pass vs autoregressive capacity/);
});
