import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SampleRecord } from '../../src/results/sample-record.ts';
import { accuracyByLength, capacityTable, ceThresholdFits, meanStd, slopeOneFit } from '../../src/metrics/aggregate.ts';
import { theoreticalCapacity } from '../../src/metrics/text-metrics.ts';
import { table1, table1Markdown } from '../../src/report/tables.ts';

/** A record with only the fields the statistics read set meaningfully. */
function rec(p: Partial<SampleRecord> & { length: number; best_accuracy: number }): SampleRecord {
  return {
    run: 't',
    model: 'm',
    source: 'pg',
    n_tokens: p.length,
    n_mem: 1,
    sample_index: 0,
    seed: 0,
    original_loss: 3,
    original_accuracy: 0.3,
    best_loss: 0.1,
    loss_at_best_accuracy: 0.1,
    original_ce: 3 * p.length,
    compressed_ce: 0.1 * p.length,
    info_gain_nats: 0,
    info_gain_bits: 0,
    token_gain: 0,
    steps: 10,
    best_step: 9,
    stop_reason: 'max_steps',
    regenerated_exact: false,
    regenerated_prefix_tokens: 0,
    seconds: 1,
    embed_dim: 768,
    embedding_rows: 50304,
    ids_sha256: '',
    vector_file: '',
    ...p,
  };
}

const close = (a: number | null, b: number, eps = 1e-9) => {
  assert.ok(a !== null && Math.abs(a - b) < eps, `${a} ≉ ${b}`);
};

test('meanStd uses the sample std and is null-safe', () => {
  assert.deepEqual(meanStd([]), { mean: null, std: null, n: 0 });
  assert.deepEqual(meanStd([5]), { mean: 5, std: null, n: 1 });
  const s = meanStd([1, 2, 3, 4]);
  close(s.mean, 2.5);
  close(s.std, Math.sqrt(5 / 3));
});

test('capacity: largest length whose mean best_accuracy ≥ 0.99', () => {
  const rs = [
    rec({ length: 8, best_accuracy: 1.0 }),
    rec({ length: 8, best_accuracy: 1.0, sample_index: 1 }),
    rec({ length: 16, best_accuracy: 1.0 }),
    rec({ length: 16, best_accuracy: 0.99, sample_index: 1 }), // mean 0.995
    rec({ length: 32, best_accuracy: 0.95 }),
    rec({ length: 32, best_accuracy: 0.85, sample_index: 1 }), // mean 0.9
  ];
  const [row] = capacityTable(rs);
  assert.equal(row!.capacity, 16);
  assert.equal(row!.n_samples, 6);
  assert.equal(row!.n_lengths, 3);
  // A single perfect text does not rescue a length whose mean is below the threshold.
  const rs2 = [rec({ length: 64, best_accuracy: 1.0 }), rec({ length: 64, best_accuracy: 0.97, sample_index: 1 })];
  assert.equal(capacityTable([...rs, ...rs2])[0]!.capacity, 16);
});

test('capacity is null when no length reaches 0.99; gains null-safe without saturated samples', () => {
  const none = capacityTable([rec({ length: 8, best_accuracy: 0.5 }), rec({ length: 16, best_accuracy: 0.98 })]);
  assert.equal(none[0]!.capacity, null);
  const allLossless = capacityTable([rec({ length: 8, best_accuracy: 1 }), rec({ length: 16, best_accuracy: 1 })])[0]!;
  assert.equal(allLossless.n_saturated, 0);
  assert.equal(allLossless.token_gain_mean, null);
  assert.equal(allLossless.token_gain_std, null);
  assert.equal(allLossless.info_gain_nats_mean, null);
  assert.equal(allLossless.utilization, null);
});

test('gains: mean ± sample std over samples with best_accuracy ≤ 0.99, pooled over lengths', () => {
  const rs = [
    rec({ length: 8, best_accuracy: 1.0, token_gain: 1000, info_gain_nats: 9000 }), // excluded (> 0.99)
    rec({ length: 16, best_accuracy: 0.995, token_gain: 1000, info_gain_nats: 9000 }), // excluded (> 0.99)
    rec({ length: 16, best_accuracy: 0.99, token_gain: 10, info_gain_nats: 100 }), // included (= 0.99)
    rec({ length: 32, best_accuracy: 0.8, token_gain: 20, info_gain_nats: 200 }),
    rec({ length: 64, best_accuracy: 0.5, token_gain: 30, info_gain_nats: 300 }),
  ];
  const row = capacityTable(rs)[0]!;
  assert.equal(row.n_saturated, 3);
  close(row.token_gain_mean, 20);
  close(row.token_gain_std, 10);
  close(row.info_gain_nats_mean, 200);
  close(row.info_gain_nats_std, 100);
  close(row.theoretical_capacity, theoreticalCapacity(768, 50304));
  close(row.utilization, 20 / theoreticalCapacity(768, 50304));
  assert.equal(Math.round(row.theoretical_capacity), 787); // paper: Pythia-160M
});

test('groups by model, source and K; exact-regeneration rate', () => {
  const rs = [
    rec({ length: 8, best_accuracy: 1, regenerated_exact: true }),
    rec({ length: 8, best_accuracy: 1, regenerated_exact: false, sample_index: 1 }),
    rec({ length: 8, best_accuracy: 1, n_mem: 2, regenerated_exact: true }),
    rec({ length: 8, best_accuracy: 0.5, source: 'random' }),
  ];
  const rows = capacityTable(rs);
  assert.equal(rows.length, 3);
  const k1 = rows.find((r) => r.source === 'pg' && r.n_mem === 1)!;
  assert.equal(k1.exact_rate, 0.5);
  const k2 = rows.find((r) => r.n_mem === 2)!;
  close(k2.theoretical_capacity, 2 * theoreticalCapacity(768, 50304));
});

test('random-word sources: one sample per distinct length, same rule', () => {
  const rs = [37, 41, 52, 58, 63].map((L, i) =>
    rec({ source: 'random-words', length: L, sample_index: i, best_accuracy: L <= 52 ? 1 : 0.9 }),
  );
  rs.push(rec({ source: 'random-words', length: 70, sample_index: 9, best_accuracy: 0.995 })); // isolated lucky long text
  assert.equal(capacityTable(rs)[0]!.capacity, 70);
  const acc = accuracyByLength(rs);
  assert.equal(acc.length, 6);
  assert.ok(acc.every((a) => a.n_samples === 1 && a.best_accuracy_std === null));
});

test('accuracyByLength: mean/std/original accuracy/count/exact rate', () => {
  const rs = [
    rec({ length: 16, best_accuracy: 1, original_accuracy: 0.2, regenerated_exact: true }),
    rec({ length: 16, best_accuracy: 0.8, original_accuracy: 0.4, sample_index: 1 }),
    rec({ length: 8, best_accuracy: 1 }),
  ];
  const acc = accuracyByLength(rs);
  assert.deepEqual(
    acc.map((a) => a.length),
    [8, 16],
  );
  const a16 = acc[1]!;
  close(a16.best_accuracy_mean, 0.9);
  close(a16.best_accuracy_std, Math.sqrt(0.02));
  close(a16.original_accuracy_mean, 0.3);
  assert.equal(a16.n_samples, 2);
  assert.equal(a16.exact_rate, 0.5);
});

test('slopeOneFit recovers b on exact data; empty input is null', () => {
  const xs = [100, 250, 400, 1000];
  const fit = slopeOneFit(
    xs,
    xs.map((x) => x - 396.4),
  );
  close(fit.b, -396.4, 1e-9);
  close(fit.rmse, 0, 1e-9);
  assert.equal(fit.n, 4);
  assert.deepEqual(slopeOneFit([], []), { b: null, n: 0, rmse: null });
  assert.throws(() => slopeOneFit([1], []));
  // Least squares with slope 1: b is the mean residual.
  close(slopeOneFit([0, 0], [1, 3]).b, 2);
});

test('Figure 3: fit over acc < 0.99, C_H = −b, red line = max compressed CE over acc ≥ 0.99', () => {
  const rs = [
    rec({ length: 8, best_accuracy: 1, original_ce: 50, compressed_ce: 3 }),
    rec({ length: 16, best_accuracy: 0.99, original_ce: 80, compressed_ce: 7 }), // lossless side (≥ 0.99)
    rec({ length: 32, best_accuracy: 0.9, original_ce: 500, compressed_ce: 100 }),
    rec({ length: 64, best_accuracy: 0.6, original_ce: 900, compressed_ce: 500 }),
    rec({ length: 64, best_accuracy: 0.4, original_ce: 1300, compressed_ce: 900, source: 'other' }),
  ];
  const fits = ceThresholdFits(rs);
  const pg = fits.find((f) => f.source === 'pg')!;
  assert.equal(pg.n_fit, 2);
  close(pg.b, -400);
  close(pg.c_h, 400);
  assert.equal(pg.red_line, 7);
  assert.equal(pg.n_lossless, 2);
  assert.equal(pg.fit_x_min, 500);
  assert.equal(pg.fit_x_max, 900);
  const other = fits.find((f) => f.source === 'other')!;
  assert.equal(other.red_line, null);
  close(other.c_h, 400);
});

test('Table 1 lays out source × metric rows with model columns', () => {
  const rs = [
    rec({ length: 8, best_accuracy: 1 }),
    rec({ length: 16, best_accuracy: 0.9, token_gain: 10, info_gain_nats: 50 }),
    rec({ length: 16, best_accuracy: 0.8, token_gain: 14, info_gain_nats: 70, sample_index: 1 }),
    rec({ length: 8, best_accuracy: 0.5, model: 'big', embed_dim: 2048, token_gain: 3, info_gain_nats: 9 }),
  ];
  const t = table1(rs);
  assert.deepEqual(t.models, ['m', 'big']);
  assert.deepEqual(
    t.rows.map((r) => r.metric),
    ['Max, tokens', 'Gain, tokens', 'Information gain, nats'],
  );
  assert.deepEqual(t.rows[0]!.cells, ['8', '–']);
  assert.equal(t.rows[1]!.cells[0], `12.0 ± ${Math.sqrt(8).toFixed(1)}`);
  assert.equal(t.rows[1]!.cells[1], '3.0');
  assert.match(table1Markdown(t), /\| pg \| Max, tokens \| 8 \| – \|/);
});
