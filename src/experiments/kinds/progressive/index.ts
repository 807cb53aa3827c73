/**
 * `experiment: progressive`: Progressive Cramming (Tarasov et al., ICML 2026) per text, and its compression horizon
 * next to the fixed-grid capacity of the same texts.
 *
 * Per (model, source, K, text): the target is the text's first `target_length` tokens (default max(lengths)); stages
 * grow a prefix of it (linear by `step`, or doubling then bisection), warm-started across stages (vectors and AdamW
 * state); a stage passes only with exact greedy regeneration (teacher-forced accuracy 1.0 first); `stage_steps` per
 * stage, `text_steps` per text, one optimizer restart per stage before it fails (`lr_reset`). The horizon is the longest prefix of the target that greedy
 * regeneration reproduces with the kept vectors (src/cram/progressive.ts). Texts shorter than the target are left
 * out (said in the log, skipped.jsonl and the report), so no horizon is capped by its text's end; a text whose
 * horizon reaches the target is counted as such (reached_full).
 *
 * With `compare_capacity` (default), the same texts are also crammed from scratch at every grid length of `lengths`
 * with the capacity kind's pipeline and settings (`max_steps`, `patience`): capacity_samples.jsonl, the same records a
 * capacity run gives (same seeds: the progressive run starts from the same initial vectors as the grid). That costs
 * grid time, but the comparison needs no second run, cannot pair different texts, and resumes with the rest.
 *
 * Files: progressive.jsonl (one record per text: the resume log), stages.jsonl (each text's stages),
 * progressive_curves.jsonl (per-step loss, accuracy and stage length of `curves` texts per model, source and K),
 * capacity_samples.jsonl, vectors/progressive/<model>/<source>/K<k>/i<index>.safetensors (kept vectors; metadata for
 * the whole target, the horizon and passed stage in `horizon` and `passed_length`).
 * Options, records, plan, run, report and figures are in this folder's files.
 */
import type { ExperimentKind } from '../../kind.ts';
import { PROGRESSIVE_OPTIONS } from './options.ts';
import { plan, type ProgressiveItem } from './plan.ts';
import { ProgressiveRecordSchema, RECORD_FILE, recordKey, type ProgressiveRecord } from './records.ts';
import { progressiveReport } from './report.ts';
import { run } from './run.ts';

export const progressive: ExperimentKind<ProgressiveItem, ProgressiveRecord> = {
  name: 'progressive',
  description:
    'Progressive Cramming (Tarasov et al., 2026): per text, growing targets with warm starts and exact-regeneration stages; compression horizons next to the fixed-grid capacity of the same texts',
  options: PROGRESSIVE_OPTIONS,
  recordFile: RECORD_FILE,
  record: ProgressiveRecordSchema,
  recordKey,
  plan,
  run,
  report: progressiveReport,
};
