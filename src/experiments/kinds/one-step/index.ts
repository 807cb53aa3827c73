/**
 * `experiment: one-step`: one-step generation (Mezentsev & Oseledets, EMNLP 2025). Per text and grid length L, a vector
 * e (and m: the text's own, or shared by a group of texts, `m_sharing`) is trained so that the frozen model, reading
 * only [e, m, m, …, m], predicts the text in one forward pass (src/cram/one-step.ts, objective graph in
 * src/cram/objective.ts): L−1 positions, position i predicting token i+1 of the text — exactly the tokens the
 * autoregressive objective predicts (BOS, when the tokenizer adds one, is given there and not a target here). Success:
 * accuracy ≥ 0.99 over those predictions; capacity: the largest grid length whose mean best accuracy is ≥ 0.99 (the
 * paper's rule, so both capacities are read the same way).
 *
 * With `compare_autoregressive` (default), the same texts are crammed autoregressively at the same lengths with each K
 * of `n_mem` (the capacity kind's pipeline and records: capacity_samples.jsonl), so one-pass and autoregressive
 * capacities sit side by side. For the first `timing_samples` texts per (model, source, m_sharing, length) the decoding
 * time is measured at batch 1: one forward pass of the kept [e, m…] producing all L−1 tokens, against greedy decoding
 * of as many tokens with the key/value cache from [K vectors, first token] (K = the first of n_mem); medians over
 * `timing_repeats` runs after one warm-up.
 *
 * Files: one_step.jsonl (one record per text and length: the resume log), one_step_curves.jsonl, capacity_samples.jsonl,
 * vectors/one-step/<model>/<source>/<m_sharing>/L<length>-i<index>.safetensors (tensor "mem" = [e; m], n_mem 2).
 * Options, records, plan, run, report and figures are in this folder's files.
 */
import type { ExperimentKind } from '../../kind.ts';
import { ONE_STEP_OPTIONS } from './options.ts';
import { plan, type OneStepItem } from './plan.ts';
import { OneStepRecordSchema, RECORD_FILE, recordKey, type OneStepRecord } from './records.ts';
import { oneStepReport } from './report.ts';
import { run } from './run.ts';

export const oneStep: ExperimentKind<OneStepItem, OneStepRecord> = {
  name: 'one-step',
  description:
    'one-step generation (Mezentsev & Oseledets, 2025): [e, m, …, m] → the whole text in one forward pass; capacity next to autoregressive cramming of the same texts, decoding time of one pass vs greedy',
  options: ONE_STEP_OPTIONS,
  recordFile: RECORD_FILE,
  record: OneStepRecordSchema,
  recordKey,
  plan,
  run,
  report: oneStepReport,
};
