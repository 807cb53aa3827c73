/** The paper's per-text metrics on hand-worked examples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textMetrics, theoreticalCapacity } from '../../src/metrics/text-metrics.ts';

const close = (a: number, b: number, tol = 1e-9) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('CE totals, information gain and token gain follow the paper (× N) and the exact sums (× N−1)', () => {
  // N = 11 tokens (BOS + 10): 10 predictions. Mean CE 3.0 → 0.5; accuracy 0.3 → 1.0 (3 → 10 correct predictions).
  const m = textMetrics({ nTokens: 11, originalLoss: 3.0, originalAccuracy: 0.3, bestLoss: 0.5, bestAccuracy: 1.0 });
  close(m.original_ce_paper, 33); // 3.0 × 11
  close(m.compressed_ce_paper, 5.5); // 0.5 × 11
  close(m.info_gain_nats, 27.5);
  close(m.info_gain_bits, 27.5 / Math.LN2);
  close(m.original_ce_sum, 30); // 3.0 × 10
  close(m.compressed_ce_sum, 5);
  close(m.info_gain_nats_exact, 25);
  close(m.token_gain, 7.7); // (1.0 − 0.3) × 11
  assert.equal(m.token_gain_exact, 7); // 10 − 3 correct predictions
});

test("theoretical capacity d·16/log2(V) reproduces the paper's table", () => {
  assert.equal(Math.round(theoreticalCapacity(4096, 128256)), 3862); // Llama-3.1-8B
  assert.equal(Math.round(theoreticalCapacity(768, 50304)), 787); // Pythia-160M
  assert.equal(Math.round(theoreticalCapacity(2048, 32000)), 2190); // Sheared-LLaMA
  assert.equal(theoreticalCapacity(128, 8192), (128 * 16) / 13); // gutenberg-llama-s
});
