/** The service's limits and batching defaults (here, apart from the server, so the CLI can show them without loading it). */
export const SERVE_DEFAULTS = {
  bodyLimit: 1 << 20,
  maxTextTokens: 4096,
  maxQueue: 256,
  maxNewTokens: 512,
  maxWaiting: 32,
  session: { thresholdTokens: 256, keepTokens: 64, maxChunkTokens: 1024 },
  batchTexts: 16,
  batchTokens: 4096,
  batchWaitMs: 100,
  /**
   * Tokens per segment: a memory is crammed as one sequence (up to maxTextTokens), because only a memory whose vectors
   * all stand in front of its whole text can open a prompt and regenerate it (docs/serve.md, "Placement").
   */
  segmentTokens: 4096,
};
