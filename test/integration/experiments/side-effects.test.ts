/**
 * experiment: side-effects — random vectors of the same norm, the mean token embedding against the weights file, the
 * table on hand-made records, and a small run from a config (records for every condition, the unrelated texts after the
 * donors, the plain condition equal to the model's baseline, figure, tables, report).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkWithoutEngine, workFolder, writeConfig } from './setup.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import { randomSameNorm } from '../../../src/experiments/kinds/side-effects/conditions.ts';
import type {
  DonorRecord,
  ReferenceRecord,
  SideEffectsRecord,
} from '../../../src/experiments/kinds/side-effects/records.ts';
import { sideEffectsSamples, sideEffectsTable } from '../../../src/experiments/kinds/side-effects/report.ts';
import { norm } from '../../../src/metrics/stats.ts';
import { openModel, startBackend } from '../../../src/run/model-session.ts';
import { readSafetensorsFile } from '../../../src/models/safetensors.ts';
import { seededNormal } from '../../../src/cram/init.ts';
import { bundled, ready } from '../../helpers.ts';

const work = workFolder('side-effects');

test('random vectors with the row norms of given vectors, seeded', () => {
  const like = Float32Array.from(seededNormal(3 * 16, 'like').map((x, i) => x * (1 + Math.floor(i / 16))));
  const r = randomSameNorm(like, 3, 's');
  for (let k = 0; k < 3; k++)
    assert.ok(Math.abs(norm(r.subarray(k * 16, (k + 1) * 16)) - norm(like.subarray(k * 16, (k + 1) * 16))) < 1e-5);
  assert.deepEqual(randomSameNorm(like, 3, 's'), r);
  assert.notDeepEqual(randomSameNorm(like, 3, 't'), r);
});

test('the table on hand-made records: deltas against nothing, shares of pairs whose loss rose', () => {
  const common = {
    run: 'x',
    model: 'm',
    eval_source: 'e',
    eval_length: 8,
    eval_indices: [5, 6],
    baseline_loss: [2, 4],
    baseline_accuracy: [0.5, 0.25],
  };
  const none: ReferenceRecord = {
    record: 'reference',
    condition: 'none',
    ...common,
    n_mem: 0,
    vector_norm: 0,
    loss: [2, 4],
    accuracy: [0.5, 0.25],
    loss_mean: 3,
    accuracy_mean: 0.375,
  };
  const meanEmb: ReferenceRecord = {
    ...none,
    condition: 'mean_embedding',
    n_mem: 1,
    vector_norm: 0.5,
    loss: [2.5, 3.5],
    accuracy: [0.5, 0.25],
    loss_mean: 3,
    accuracy_mean: 0.375,
  };
  const donor = (i: number, crammed: number[], random: number[], length = 4): DonorRecord => ({
    record: 'donor',
    ...common,
    n_mem: 1,
    source: 's',
    length,
    sample_index: i,
    n_tokens: 4,
    best_accuracy: 1,
    best_loss: 0.1,
    steps: 9,
    stop_reason: 'solved',
    regenerated_exact: true,
    vector_norm: 3,
    vector_file: '',
    crammed_loss: crammed,
    crammed_accuracy: [0, 0],
    random_loss: random,
    random_accuracy: [0.5, 0.25],
    crammed_loss_mean: 0,
    crammed_accuracy_mean: 0,
    random_loss_mean: 0,
    random_accuracy_mean: 0,
    seconds: 1,
  });
  const records: SideEffectsRecord[] = [none, meanEmb, donor(0, [3, 5], [2, 4]), donor(1, [4, 4], [2, 4])];
  assert.equal(sideEffectsSamples(records).length, 2 + 2 + 2 * 2 * 2);
  const t = sideEffectsTable(records);
  assert.deepEqual(
    t.map((r) => r.condition),
    ['none', 'crammed', 'random_same_norm', 'mean_embedding'],
  );
  const by = Object.fromEntries(t.map((r) => [r.condition, r]));
  assert.equal(by.none.delta_loss_mean, 0);
  assert.equal(by.crammed.delta_loss_mean, (1 + 1 + 2 + 0) / 4);
  assert.equal(by.crammed.loss_up_share, 3 / 4);
  assert.equal(by.crammed.delta_accuracy_mean, -0.375);
  assert.equal(by.crammed.prefixes, 2);
  assert.equal(by.random_same_norm.delta_loss_mean, 0);
  assert.equal(by.mean_embedding.delta_loss_mean, 0);
  assert.equal(by.mean_embedding.loss_up_share, 0.5);
  assert.equal(by.mean_embedding.prefix_norm_mean, 0.5);
  // Donors of two lengths: one row each for the crammed and the random prefixes.
  const two = sideEffectsTable([...records, donor(2, [6, 6], [2, 4], 8)]);
  assert.deepEqual(
    two.map((r) => `${r.condition}|${r.donor_length}|${r.prefixes}`),
    [
      'none|null|1',
      'crammed|4|2',
      'crammed|8|1',
      'random_same_norm|4|2',
      'random_same_norm|8|1',
      'mean_embedding|null|1',
    ],
  );
  assert.equal(two.find((r) => r.condition === 'crammed' && r.donor_length === 8)!.delta_loss_mean, 3);
});

test("the mean token embedding is the row mean of the model's embedding table", async () => {
  await ready;
  await startBackend('cpu');
  const model = await openModel('gutenberg-llama-xs');
  const m = model.embeddingMean();
  model.dispose();
  const { tensors } = readSafetensorsFile(join(bundled('gutenberg-llama-xs'), 'model.safetensors'));
  const table = tensors.get('model.embed_tokens.weight')!;
  const [V, d] = table.shape;
  assert.equal(m.length, d);
  for (const j of [0, 7, d - 1]) {
    let s = 0;
    for (let r = 0; r < V; r++) s += table.data[r * d + j];
    assert.ok(Math.abs(m[j] - s / V) < 1e-6, `column ${j}`);
  }
});

test('a side-effects run from a config: every condition, unrelated texts after the donors, figure and report', async () => {
  await ready;
  const file = writeConfig(work, 'small', {
    experiment: 'side-effects',
    backend: 'cpu',
    models: ['gutenberg-llama-xs'],
    sources: ['gutenberg-heldout'],
    lengths: [4],
    n_mem: [1, 2],
    samples: 2,
    eval_texts: 3,
    eval_length: 16,
    max_steps: 15,
    patience: 15,
    batch: { max_texts: 8, max_tokens: 512 },
    seed: 4,
  });
  const r = await runExperiment<SideEffectsRecord>(file, { quiet: true });
  const donors = r.records.filter((x): x is DonorRecord => x.record === 'donor');
  const refs = r.records.filter((x): x is ReferenceRecord => x.record === 'reference');
  assert.equal(donors.length, 2 * 2);
  assert.deepEqual(refs.map((x) => `${x.condition}|${x.n_mem}`).sort(), [
    'mean_embedding|1',
    'mean_embedding|2',
    'none|0',
  ]);
  for (const x of r.records) assert.deepEqual(x.eval_indices, [2, 3, 4], 'the evaluation texts follow the donors');
  const none = refs.find((x) => x.condition === 'none')!;
  assert.deepEqual(none.loss, none.baseline_loss);
  for (const d of donors) {
    assert.equal(d.crammed_loss.length, 3);
    assert.ok(existsSync(join(r.runDir, d.vector_file)));
    assert.ok(d.random_loss.every(Number.isFinite) && d.crammed_accuracy.every((a) => a >= 0 && a <= 1));
  }
  const samples = readFileSync(join(r.runDir, 'side_effects_samples.csv'), 'utf8').trim().split('\n');
  assert.equal(
    samples.length,
    1 + 2 * 3 * (1 + 2 + 2 + 1),
    'per K: none, 2 donors × (crammed, random), mean embedding; 3 texts each',
  );
  assert.ok(existsSync(join(r.runDir, 'figures', 'side_effects.png')));
  assert.ok(existsSync(join(r.runDir, 'side_effects_summary.csv')));
  assert.match(
    readFileSync(join(r.runDir, 'report.md'), 'utf8'),
    /## What a prefix does to other texts[\s\S]*\(c\) random, same norm/,
  );
});

test('configs/side-effects.yaml validates and plans without loading the engine', () => {
  const out = checkWithoutEngine('configs/side-effects.yaml');
  assert.equal(out.experiment, 'side-effects');
  assert.equal(out.models[0].model, 'gutenberg-llama-s');
  assert.equal(out.models[0].items, 67);
});
