/**
 * experiment: solution-space — the analyses on hand-made inputs (cosines, PCA variance shares on trajectories of known
 * structure, interpolation ends), a small run from a config (records, vector and trajectory files, figures, report
 * sections; the lines' ends re-evaluate to the restarts' own accuracies), and kill -9 then the same command: nothing
 * finished is lost, nothing is run twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkWithoutEngine, configWriter, killWhen, lines, workFolder } from './setup.ts';
import { readVectorFile } from '../../../src/cram/vector-file.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import { pca, symmetricEigen, thin } from '../../../src/metrics/pca.ts';
import { alphas, interpolate, solutionCosines } from '../../../src/experiments/kinds/solution-space/math.ts';
import type {
  GroupRecord,
  RestartRecord,
  SolutionSpaceRecord,
  TextRecord,
} from '../../../src/experiments/kinds/solution-space/records.ts';
import { seededNormal } from '../../../src/cram/init.ts';
import { ready } from '../../helpers.ts';

const work = workFolder('solution-space');
const writeConfig = configWriter(work, {
  experiment: 'solution-space',
  backend: 'cpu',
  models: ['gutenberg-llama-xs'],
  sources: ['gutenberg-heldout'],
  lengths: [4],
  n_mem: [1],
  samples: 2,
  restarts: 3,
  interpolation_points: 11,
  vectors_every: 4,
  max_steps: 24,
  patience: 24,
  batch: { max_texts: 8, max_tokens: 512 },
  seed: 5,
});

const keyOf = (r: SolutionSpaceRecord) =>
  `${r.record}|${r.length}|${r.n_mem}|${'sample_index' in r ? r.sample_index : '-'}|${'restart' in r ? r.restart : '-'}`;

/** An orthonormal basis of `k` random directions in `dim` dimensions (Gram–Schmidt on seeded normals). */
function basis(dim: number, k: number, seed: string): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < k; i++) {
    const v = Float64Array.from(seededNormal(dim, `${seed}|${i}`));
    for (const u of out) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += v[j] * u[j];
      for (let j = 0; j < dim; j++) v[j] -= d * u[j];
    }
    let n = 0;
    for (let j = 0; j < dim; j++) n += v[j] * v[j];
    for (let j = 0; j < dim; j++) v[j] /= Math.sqrt(n);
    out.push(v);
  }
  return out;
}

/** Points c1·e1 + c2·e2 + c3·e3 + offset with centred coordinates of chosen variances (Σc1² : Σc2² : Σc3² = 6 : 3 : 1). */
function trajectory(points: number, dim: number): Float32Array[] {
  const [e1, e2, e3] = basis(dim, 3, 'pca');
  const offset = seededNormal(dim, 'offset');
  // Over t = 0…T−1 with T a multiple of 4: cos and sin at 2πt/T are centred and orthogonal, and so is a zig-zag (±1).
  const out: Float32Array[] = [];
  for (let t = 0; t < points; t++) {
    const a = (2 * Math.PI * t) / points;
    const c = [Math.sqrt(12) * Math.cos(a), Math.sqrt(6) * Math.sin(a), t % 2 === 0 ? 1 : -1];
    out.push(Float32Array.from({ length: dim }, (_, j) => offset[j] + c[0] * e1[j] + c[1] * e2[j] + c[2] * e3[j]));
  }
  return out;
}

test('PCA variance shares on trajectories of known structure, through the covariance and through the Gram matrix', () => {
  for (const [points, dim] of [
    [40, 12],
    [16, 64],
  ]) {
    const r = pca(trajectory(points, dim), 3);
    assert.equal(r.points, points);
    assert.ok(Math.abs(r.shares[0] - 0.6) < 1e-5, `PC1 ${r.shares[0]} (T = ${points}, D = ${dim})`);
    assert.ok(Math.abs(r.shares[1] - 0.3) < 1e-5, `PC2 ${r.shares[1]}`);
    assert.ok(Math.abs(r.shares[2] - 0.1) < 1e-5, `PC3 ${r.shares[2]}`);
    // Coordinates on PC1 are ±√12·cos: their squares sum to the variance on PC1, and the last point's sign is fixed.
    const ss = r.coords.reduce((a, c) => a + c[0] ** 2, 0);
    assert.ok(Math.abs(ss / r.total - 0.6) < 1e-5);
    assert.ok(r.coords[points - 1][0] >= 0 && r.coords[points - 1][1] >= 0);
  }
  // A straight line is all PC1; identical points have no variance at all.
  const line = Array.from({ length: 10 }, (_, t) => Float32Array.from([t, 2 * t, -t, 0.5]));
  assert.ok(Math.abs(pca(line).shares[0] - 1) < 1e-12);
  assert.deepEqual(pca([Float32Array.from([1, 2]), Float32Array.from([1, 2])]).shares, [0, 0]);
  // Jacobi on a small matrix with known eigenvalues.
  const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 0, 1, 2, 0, 0, 0, 5]), 3);
  assert.deepEqual(
    values.map((v) => Number(v.toFixed(12))),
    [5, 3, 1],
  );
  assert.ok(Math.abs(Math.abs(vectors[2 * 3 + 0]) - 1) < 1e-12, 'the eigenvector of 5 is e3');
  assert.deepEqual(thin(5, 10), [0, 1, 2, 3, 4]);
  assert.deepEqual(thin(101, 3), [0, 50, 100]);
});

test('cosines within and across texts, and interpolation ends, on hand-made vectors', () => {
  const v = (...xs: number[]) => Float32Array.from(xs);
  const { intra, inter } = solutionCosines([
    { text: 0, restart: 0, vector: v(1, 0, 0) },
    { text: 0, restart: 1, vector: v(1, 1, 0) },
    { text: 1, restart: 0, vector: v(0, 0, 2) },
    { text: 1, restart: 1, vector: v(0, -3, 0) },
  ]);
  assert.deepEqual(
    intra.map((p) => [p.text_a, p.restart_a, p.text_b, p.restart_b, Number(p.cosine.toFixed(12))]),
    [
      [0, 0, 0, 1, Number(Math.SQRT1_2.toFixed(12))],
      [1, 0, 1, 1, 0],
    ],
  );
  assert.deepEqual(
    inter.map((p) => Number(p.cosine.toFixed(12))),
    [0, 0, 0, -Number(Math.SQRT1_2.toFixed(12))],
  );
  const a = Float32Array.from(seededNormal(50, 'a'));
  const b = Float32Array.from(seededNormal(50, 'b'));
  assert.deepEqual(interpolate(a, b, 0), a);
  assert.deepEqual(interpolate(a, b, 1), b);
  const mid = interpolate(a, b, 0.5);
  assert.ok(Math.abs(mid[7] - Math.fround((a[7] + b[7]) / 2)) < 1e-6);
  const as = alphas(11);
  assert.equal(as.length, 11);
  assert.equal(as[0], 0);
  assert.equal(as[10], 1);
  assert.ok(Math.abs(as[5] - 0.5) < 1e-15);
});

test("a solution-space run from a config: records, vectors, trajectories, figures, report; line ends are the restarts' own accuracies", async () => {
  await ready;
  const r = await runExperiment<SolutionSpaceRecord>(writeConfig('small'), { quiet: true });
  const restarts = r.records.filter((x): x is RestartRecord => x.record === 'restart');
  const texts = r.records.filter((x): x is TextRecord => x.record === 'text');
  const groups = r.records.filter((x): x is GroupRecord => x.record === 'group');
  assert.equal(restarts.length, 6);
  assert.equal(texts.length, 2);
  assert.equal(groups.length, 1);
  assert.equal(new Set(r.records.map(keyOf)).size, r.records.length);
  // Distinct starts: every restart's initial vectors differ.
  assert.equal(new Set(restarts.map((x) => x.init_seed)).size, 6);
  assert.equal(new Set(restarts.map((x) => x.init_norm)).size, 6);
  for (const x of restarts) {
    const { memory, meta } = readVectorFile(join(r.runDir, x.vector_file));
    assert.equal(memory.length, 64);
    assert.equal(meta.ids_sha256, x.ids_sha256);
    assert.ok(existsSync(join(r.runDir, x.trajectory_file)));
    assert.ok(x.trajectory_points >= 2 && x.pc1_share! > 0 && x.pc1_share! + x.pc2_share! <= 1 + 1e-9);
  }
  for (const t of texts) {
    assert.equal(t.alphas.length, 11);
    assert.equal(t.interpolation.length, 3, 'every pair of 3 restarts');
    assert.equal(t.intra_cosines.length, 3);
    const own = (k: number) => restarts.find((x) => x.sample_index === t.sample_index && x.restart === k)!;
    for (const p of t.interpolation) {
      assert.equal(
        p.accuracy[0],
        own(p.restart_a).best_accuracy,
        `α = 0 is restart ${p.restart_a} of text ${t.sample_index}`,
      );
      assert.equal(p.accuracy[10], own(p.restart_b).best_accuracy, `α = 1 is restart ${p.restart_b}`);
      assert.equal(p.exact[0], own(p.restart_a).regenerated_exact);
      assert.equal(p.norm_ratio.length, 11);
    }
    assert.equal(t.endpoint_mismatches, 0);
    assert.equal(t.joint_pca.length, 3);
    assert.ok(t.joint_pc1_share! >= t.joint_pc2_share!);
  }
  const g = groups[0];
  assert.equal(g.intra.length, 2 * 3);
  assert.equal(g.inter.length, 15 - 6);
  const text0 = texts.find((t) => t.sample_index === 0)!;
  assert.ok(
    Math.abs(g.intra.filter((p) => p[0] === 0).reduce((a, p) => a + p[4], 0) / 3 - text0.intra_cosine_mean) < 1e-5,
  );
  for (const f of ['solution_cosine', 'interpolation_accuracy', 'trajectory_pca'])
    assert.ok(existsSync(join(r.runDir, 'figures', `${f}.png`)), f);
  for (const f of [
    'results.csv',
    'restarts.csv',
    'cosines.csv',
    'interpolation.csv',
    'trajectory_pca.csv',
    'trajectory_pca_paths.csv',
    'solution_space_summary.csv',
  ]) {
    assert.ok(existsSync(join(r.runDir, f)), f);
  }
  assert.equal(lines(join(r.runDir, 'interpolation.csv')).length, 1 + 2 * 3 * 11);
  const md = readFileSync(join(r.runDir, 'report.md'), 'utf8');
  for (const s of [
    'Solutions of the same text and of different texts (Fig. 7)',
    'Straight lines between restarts of a text (Fig. 8)',
    'Optimisation trajectories (PCA)',
  ])
    assert.match(md, new RegExp(`## ${s.replace(/[().]/g, '\\$&')}`));
});

test('kill -9 mid-run, then the same command: no restart or analysis lost or run twice', async () => {
  // One restart at a time, so the kill lands between records.
  const config = writeConfig('killed', {
    samples: 3,
    max_steps: 40,
    patience: 40,
    batch: { max_texts: 1, max_tokens: 512 },
  });
  const file = join(work, 'results', 'killed', 'solution-space.jsonl');
  await killWhen(config, file, 4);
  const before = lines(file);
  const total = 9 + 3 + 1;
  assert.ok(before.length >= 4 && before.length < total, `killed after ${before.length} of ${total} records`);

  await ready;
  const resumed = await runExperiment<SolutionSpaceRecord>(config, { quiet: true });
  const after = lines(file);
  assert.equal(after.length, total);
  assert.deepEqual(after.slice(0, before.length), before, 'finished lines are kept as they were');
  assert.equal(new Set(resumed.records.map(keyOf)).size, total, 'nothing was made twice');
  assert.equal(resumed.ranNow, total - before.length, 'only what was missing ran');
  // The analyses after the resume read every restart's vectors, those of the killed session included.
  for (const t of resumed.records.filter((x): x is TextRecord => x.record === 'text'))
    assert.equal(t.endpoint_mismatches, 0);
});

test('configs/solution-space.yaml validates and plans without loading the engine', () => {
  const out = checkWithoutEngine('configs/solution-space.yaml');
  assert.equal(out.experiment, 'solution-space');
  assert.equal(out.models[0].model, 'gutenberg-llama-s');
  assert.equal(out.models[0].items, 292);
});
