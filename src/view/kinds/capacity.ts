/** `cram view` for the capacity sweep: per-text columns, the text page's facts, curves from curves.jsonl. */
import { CurveRecordSchema } from '../harness.ts';
import { fmt, matchingCurve, type KindView, type Row } from './types.ts';

const n = (v: unknown) => (typeof v === 'number' ? v : NaN);

export const capacityView: KindView = {
  columns: () => [
    'model',
    'source',
    'n_mem',
    'length',
    'sample_index',
    'best_accuracy',
    'original_ce',
    'compressed_ce',
    'steps',
    'stop_reason',
    'regenerated_exact',
  ],
  facts(r: Row) {
    return [
      ['Model', fmt(r.model)],
      ['Source', fmt(r.source)],
      ['K (vectors)', fmt(r.n_mem)],
      ['Length L / tokens crammed', `${fmt(r.length)} / ${fmt(r.n_tokens)}`],
      ['Text index', fmt(r.sample_index)],
      ['Cross-entropy, baseline → with vectors (nats, total)', `${fmt(r.original_ce, 2)} → ${fmt(r.compressed_ce, 2)}`],
      ['Information gain', `${fmt(r.info_gain_nats, 2)} nats (${fmt(r.info_gain_bits, 1)} bits)`],
      ['Teacher-forced accuracy, baseline → best', `${fmt(r.original_accuracy)} → ${fmt(r.best_accuracy)}`],
      ['Token gain', fmt(r.token_gain, 1)],
      ['Steps (best at)', `${fmt(r.steps)} (${fmt(r.best_step)})`],
      ['Stop reason', fmt(r.stop_reason)],
      [
        'Exact greedy regeneration',
        r.regenerated_exact
          ? 'yes'
          : n(r.regenerated_prefix_tokens) < 0
            ? 'not checked'
            : `no: first ${fmt(r.regenerated_prefix_tokens)} tokens after the first came back`,
      ],
      ['Seconds in its batch', fmt(r.seconds, 2)],
    ];
  },
  curve: (r, read) => matchingCurve(r, read('curves.jsonl', CurveRecordSchema)),
};
