/**
 * Per-text metrics of the paper plus exact variants.
 * N = tokens of the text including BOS where the tokenizer adds one; the losses are means over N-1 predictions.
 */
export interface TextMetricsInput {
  nTokens: number;
  originalLoss: number;
  originalAccuracy: number;
  bestLoss: number;
  bestAccuracy: number;
}

export interface TextMetrics {
  /** Paper: H_LM = original_loss × N (a slight overcount: there are N-1 predictions). */
  original_ce_paper: number;
  /** Paper: H_LM+mem = best_loss × N. */
  compressed_ce_paper: number;
  /** Exact sums over the N-1 predictions. */
  original_ce_sum: number;
  compressed_ce_sum: number;
  /** Paper's information gain C_H = H_LM − H_LM+mem, in nats (natural log, as the official code). */
  info_gain_nats: number;
  info_gain_bits: number;
  /** Same gain from the exact sums. */
  info_gain_nats_exact: number;
  /** Paper: best_accuracy × N − original_accuracy × N. */
  token_gain: number;
  /** Extra correctly predicted tokens, exactly: (best − original accuracy) × (N − 1). */
  token_gain_exact: number;
}

export function textMetrics(x: TextMetricsInput): TextMetrics {
  const N = x.nTokens;
  const original_ce_paper = x.originalLoss * N;
  const compressed_ce_paper = x.bestLoss * N;
  const original_ce_sum = x.originalLoss * (N - 1);
  const compressed_ce_sum = x.bestLoss * (N - 1);
  const info_gain_nats = original_ce_paper - compressed_ce_paper;
  return {
    original_ce_paper,
    compressed_ce_paper,
    original_ce_sum,
    compressed_ce_sum,
    info_gain_nats,
    info_gain_bits: info_gain_nats / Math.LN2,
    info_gain_nats_exact: original_ce_sum - compressed_ce_sum,
    token_gain: (x.bestAccuracy - x.originalAccuracy) * N,
    token_gain_exact: Math.round((x.bestAccuracy - x.originalAccuracy) * (N - 1)),
  };
}

/** Eq. 1 of the paper: L_max = d · b / log2(V) with b = 16 bits per entry and V = rows of the embedding matrix. */
export function theoreticalCapacity(embedDim: number, embeddingRows: number, bitsPerEntry = 16): number {
  return (embedDim * bitsPerEntry) / Math.log2(embeddingRows);
}
