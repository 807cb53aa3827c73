/**
 * One finished text: a line of samples.jsonl and a row of results.csv. The column order here is the CSV's.
 * Losses are mean cross-entropies in nats over the text's N-1 predictions; CE totals follow the paper (× N).
 */
export interface SampleRecord {
  /** Run name (the results folder). */
  run: string;
  /** Model folder name, e.g. "gutenberg-llama-s". */
  model: string;
  /** Text source: "gutenberg-heldout", "gutenberg-seen", "random-words", or a user file's name. */
  source: string;
  /** Grid length L requested (tokens, BOS counted). For random-word texts, the sampled length. */
  length: number;
  /** Tokens actually crammed (≤ length when a text is shorter). */
  n_tokens: number;
  /** Number of [mem] vectors K. */
  n_mem: number;
  /** Index of the text within its source (the same index is the same text at every length). */
  sample_index: number;
  /** Seed of the initial vectors. */
  seed: number;
  original_loss: number;
  original_accuracy: number;
  /** Lowest loss over the steps (paper's best_loss). */
  best_loss: number;
  /** Highest teacher-forced accuracy over the steps (paper's best_accuracy). */
  best_accuracy: number;
  loss_at_best_accuracy: number;
  /** Paper: original_loss × N. */
  original_ce: number;
  /** Paper: best_loss × N. */
  compressed_ce: number;
  /** original_ce − compressed_ce (nats). */
  info_gain_nats: number;
  info_gain_bits: number;
  /** Paper: (best_accuracy − original_accuracy) × N. */
  token_gain: number;
  steps: number;
  best_step: number;
  stop_reason: 'solved' | 'patience' | 'max_steps' | 'diverged';
  regenerated_exact: boolean;
  regenerated_prefix_tokens: number;
  /** Wall time this text spent in its batch. */
  seconds: number;
  /** Width of a [mem] vector (d). */
  embed_dim: number;
  /** Rows of the input-embedding matrix (V in d·16/log2 V). */
  embedding_rows: number;
  /** SHA-256 of the crammed token ids. */
  ids_sha256: string;
  /** Vector file, relative to the run folder. */
  vector_file: string;
  /** Precision of the matrix products (config `precision`; absent in records made before it existed: float32). */
  precision?: 'float32' | 'bfloat16' | 'float16';
}

export const SAMPLE_COLUMNS: (keyof SampleRecord)[] = [
  'run', 'model', 'source', 'length', 'n_tokens', 'n_mem', 'sample_index', 'seed',
  'original_loss', 'original_accuracy', 'best_loss', 'best_accuracy', 'loss_at_best_accuracy',
  'original_ce', 'compressed_ce', 'info_gain_nats', 'info_gain_bits', 'token_gain',
  'steps', 'best_step', 'stop_reason', 'regenerated_exact', 'regenerated_prefix_tokens', 'seconds',
  'embed_dim', 'embedding_rows', 'ids_sha256', 'vector_file', 'precision',
];

/** Per-step curves of a few texts (curves.jsonl), for the optimisation-curve figure. */
export interface CurveRecord {
  model: string;
  source: string;
  length: number;
  n_mem: number;
  sample_index: number;
  loss: number[];
  accuracy: number[];
}
