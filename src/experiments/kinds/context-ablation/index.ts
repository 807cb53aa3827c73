/**
 * `experiment: context-ablation` (paper §4.7): is what a crammed vector gives the model just "context"? For every text
 * (the second half of a chunk's sentences, as crammed everywhere else), the model reads P tokens of the real text
 * before it (the end of the chunk's first half) in place of the vectors, P from `context_tokens`; next to it, the same
 * text crammed into K vectors (each K of `n_mem`). The paper: even 1024 real tokens barely lower the loss, one vector
 * removes almost all of it.
 *
 * Input with context: [BOS, c_1 … c_P, t_2 … t_N] where t_1 … t_N are the crammed ids (t_1 = BOS) and c the last P
 * tokens of the first half (tokenized with the separator that follows it in the chunk, without BOS). Scored: the
 * predictions of t_2 … t_N only — the same N − 1 predictions as the crammed text and its no-vector baseline, which
 * P = 0 reproduces exactly. (The official notebook drops BOS and does not score t_2; the bundled models always saw BOS
 * first in training, so it is kept here.) Loss is read from the per-token cross-entropies of the text part; accuracy
 * is the correct count of the whole input minus that of [BOS, c] alone, evaluated in the same batch (causal attention:
 * the context's own predictions do not depend on what follows).
 *
 * Records (context-ablation.jsonl), one per (text, condition): `context` rows (P, tokens actually available, loss,
 * accuracy) and `vectors` rows (the crammed text's best loss and accuracy, as the paper reports them).
 * Options, records, plan, run, report and figures are in this folder's files; context.ts: the text before.
 */
import type { ExperimentKind } from '../../kind.ts';
import { CONTEXT_ABLATION_OPTIONS } from './options.ts';
import { plan, type Item } from './plan.ts';
import { ContextAblationRecordSchema, RECORD_FILE, recordKey, type ContextAblationRecord } from './records.ts';
import { report } from './report.ts';
import { run } from './run.ts';

export const contextAblation: ExperimentKind<Item, ContextAblationRecord> = {
  name: 'context-ablation',
  description:
    'paper §4.7: loss and accuracy of a text with P tokens of its real preceding text in front, next to the same text crammed into K vectors',
  options: CONTEXT_ABLATION_OPTIONS,
  recordFile: RECORD_FILE,
  record: ContextAblationRecordSchema,
  recordKey,
  plan,
  run,
  report,
};
