/** The small statistics of src/metrics/stats.ts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cosineSimilarity, mean, median, norm, std } from '../../src/metrics/stats.ts';

test('mean, sample std and median, with NaN where they are undefined', () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.ok(Number.isNaN(mean([])));
  assert.equal(std([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7));
  assert.ok(Number.isNaN(std([1])));
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('norm and cosine similarity (0 for a zero vector, refused for different lengths)', () => {
  assert.equal(norm([3, 4]), 5);
  assert.equal(cosineSimilarity([1, 0], [0, 2]), 0);
  assert.ok(Math.abs(cosineSimilarity([1, 1], [2, 2]) - 1) < 1e-15);
  assert.equal(cosineSimilarity([0, 0], [1, 2]), 0);
  assert.throws(() => cosineSimilarity([1], [1, 2]), /1 and 2 values/);
});
