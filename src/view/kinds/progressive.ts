/** `cram view` for progressive cramming: per-text horizon columns and facts; curves from its curves file. */
import { PROGRESSIVE_CURVES_FILE, ProgressiveCurveSchema } from '../harness.ts';
import { fmt, matchingCurve, type KindView, type Row } from './types.ts';

export const progressiveView: KindView = {
  columns: () => [
    'model',
    'source',
    'n_mem',
    'sample_index',
    'n_tokens',
    'horizon',
    'passed_length',
    'stages',
    'steps',
    'stop_reason',
  ],
  facts(r: Row) {
    return [
      ['Model', fmt(r.model)],
      ['Source', fmt(r.source)],
      ['K (vectors)', fmt(r.n_mem)],
      ['Text index', fmt(r.sample_index)],
      ['Target tokens', fmt(r.n_tokens)],
      ['Compression horizon (tokens)', fmt(r.horizon)],
      ['Longest stage passed / first failed', `${fmt(r.passed_length)} / ${fmt(r.failed_length)}`],
      ['Stages (passed)', `${fmt(r.stages)} (${fmt(r.stages_passed)})`],
      ['Steps', fmt(r.steps)],
      ['Stop reason', fmt(r.stop_reason)],
      ['Baseline accuracy', fmt(r.original_accuracy)],
      ['Baseline CE of the horizon prefix (nats)', fmt(r.original_ce_horizon, 2)],
    ];
  },
  // The horizon is the longest prefix (BOS counted) greedy regeneration gave back.
  regeneration: (r) =>
    typeof r.horizon === 'number' ? { prefix: Math.max(0, r.horizon - 1), exact: r.reached_full === true } : null,
  curve: (r, read) => matchingCurve(r, read(PROGRESSIVE_CURVES_FILE, ProgressiveCurveSchema)),
};
