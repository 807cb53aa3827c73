/**
 * Statistics over nothing (issue 26, item 6): PCA shares of trajectories of 1–2 points are undefined, reported as
 * null and left out (counted) of the summary, not 0/0 averaged in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definedShares, MIN_PCA_POINTS, pca } from '../../src/metrics/pca.ts';
import { solutionSpaceSummary } from '../../src/experiments/kinds/solution-space/summary.ts';

const point = (...xs: number[]) => Float32Array.from(xs);

test('PCA shares of 0, 1 or 2 points, or of points without variance, are undefined', () => {
  assert.equal(definedShares(pca([])), null);
  assert.equal(definedShares(pca([point(1, 2, 3)])), null);
  assert.equal(definedShares(pca([point(1, 2, 3), point(2, 0, 1)])), null, 'two points always lie on one line');
  assert.equal(definedShares(pca([point(1, 1), point(1, 1), point(1, 1)])), null);
  const three = definedShares(pca([point(0, 0, 0), point(1, 0, 0), point(0, 1, 0)]))!;
  assert.ok(three[0] > 0 && three[0] < 1 && Math.abs(three[0] + three[1] - 1) < 1e-9, String(three));
  assert.equal(MIN_PCA_POINTS, 3);
});

test('the summary averages defined shares only and says how many restarts were left out', () => {
  const base = {
    record: 'restart',
    run: 'r',
    model: 'm',
    source: 's',
    length: 4,
    n_mem: 1,
    best_accuracy: 1,
    regenerated_exact: true,
  };
  const records = [
    { ...base, sample_index: 0, restart: 0, pc1_share: 0.6, pc2_share: 0.3, trajectory_points: 10 },
    { ...base, sample_index: 0, restart: 1, pc1_share: 0.8, pc2_share: 0.1, trajectory_points: 5 },
    { ...base, sample_index: 1, restart: 0, pc1_share: null, pc2_share: null, trajectory_points: 1 },
    // an old record: 0/0 shares of one point written as 0
    { ...base, sample_index: 1, restart: 1, pc1_share: 0, pc2_share: 0, trajectory_points: 1 },
    { ...base, sample_index: 2, restart: 0, pc1_share: 1, pc2_share: 0, trajectory_points: 2 },
  ];
  const [row] = solutionSpaceSummary(records as never);
  assert.equal(row.pca_left_out, 3);
  assert.ok(Math.abs(row.pc12_share_mean! - 0.9) < 1e-12, String(row.pc12_share_mean));
  assert.ok(Math.abs(row.pc1_share_mean! - 0.7) < 1e-12);
  const none = solutionSpaceSummary(records.slice(2) as never)[0];
  assert.equal(none.pc12_share_mean, null);
  assert.equal(none.pc12_share_std, null);
  assert.equal(none.pca_left_out, 3);
});
