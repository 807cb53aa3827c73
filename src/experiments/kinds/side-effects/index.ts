/**
 * `experiment: side-effects` (Progressive Cramming: a crammed vector wrecks the model's other predictions). M held-out
 * texts unrelated to the crammed ones are read by the model with, in front of them:
 *   (a) nothing — the plain model;
 *   (b) the K vectors crammed for another text (each donor text of the config's sources, lengths and n_mem);
 *   (c) K random vectors with the norms of (b)'s vectors, row by row (seeded per donor and length);
 *   (d) the mean token embedding, K times.
 * Loss (mean CE over each text's N − 1 predictions) and teacher-forced accuracy per (condition, donor, text).
 *
 * Donors are the first `samples` texts of each source; the evaluation texts are the `eval_texts` texts of `eval_source`
 * that follow them (indices samples … samples + M − 1 when it is a donor source, else 0 … M − 1), cut to `eval_length`.
 *
 * Work items and records (side-effects.jsonl): `donor` (one donor crammed, then (b) and (c) on every evaluation text;
 * its vectors in vectors/), `reference` (condition none, and mean_embedding per K). Per-text values are arrays in the
 * record, in the order of `eval_indices`; side_effects_samples.csv spreads them one row per (condition, donor, text).
 * Options, records, plan, run, report and figures are in this folder's files; conditions.ts: the prefixes.
 */
import type { ExperimentKind } from '../../kind.ts';
import { SIDE_EFFECTS_OPTIONS } from './options.ts';
import { plan, type Item } from './plan.ts';
import { RECORD_FILE, recordKey, SideEffectsRecordSchema, type SideEffectsRecord } from './records.ts';
import { report } from './report.ts';
import { run } from './run.ts';

export const sideEffects: ExperimentKind<Item, SideEffectsRecord> = {
  name: 'side-effects',
  description:
    'loss and accuracy of unrelated held-out texts with nothing, a vector crammed for another text, a random vector of the same norm, or the mean token embedding in front',
  options: SIDE_EFFECTS_OPTIONS,
  recordFile: RECORD_FILE,
  record: SideEffectsRecordSchema,
  recordKey,
  plan,
  run,
  report,
};
