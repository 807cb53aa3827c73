/**
 * `experiment: solution-space` — the structure of the solutions (paper App. E, Figs. 7–8; Progressive Cramming's
 * trajectory PCA). Every text is crammed R times from R random starts (distinct seeds; restart 0 uses the capacity
 * sweep's seed, so it is the capacity run's solution). Then:
 *   - cosine similarity of the solutions: between restarts of the same text (intra) and of different texts (inter);
 *   - the straight line between every pair of restarts of a text, at `interpolation_points` points (both ends
 *     included): teacher-forced accuracy, loss and exact greedy regeneration at each point;
 *   - PCA of the optimisation trajectory (the vectors every `vectors_every` steps, from the random start to the kept
 *     solution): share of variance in PC1 and PC2 per restart, and all restarts of a text in one PC1–PC2 plane.
 *
 * Work items and records (solution-space.jsonl), each with its own key, so a kill loses at most the restarts in flight:
 *   restart  one (text, restart) crammed: its outcome, its vectors (vectors/…-r<r>.safetensors) and trajectory
 *            (trajectories/…-r<r>.safetensors: `vectors` [T, K, d], `steps` [T]), its own PCA shares;
 *   text     once every restart of the text is done: intra-text cosines, the interpolation, the joint PCA;
 *   group    once every restart of every text of a (model, source, L, K) is done: intra- and inter-text cosines.
 * The analyses read the vector files, so they run the same whether the restarts finished in this session or earlier;
 * the files are written whatever `save_vectors` says.
 * Options, records, plan, run, report and figures are in this folder's files; analysis.ts: the per-text and per-group
 * analyses; trajectories.ts: the trajectory files; math.ts: interpolation and cosines; summary.ts: the summary rows.
 */
import type { ExperimentKind } from '../../kind.ts';
import { SOLUTION_SPACE_OPTIONS } from './options.ts';
import { plan, type Item } from './plan.ts';
import { RECORD_FILE, recordKey, SolutionSpaceRecordSchema, type SolutionSpaceRecord } from './records.ts';
import { report } from './report.ts';
import { run } from './run.ts';

export const solutionSpace: ExperimentKind<Item, SolutionSpaceRecord> = {
  name: 'solution-space',
  description:
    'R random restarts per text: cosine of solutions within and across texts (Fig. 7), accuracy along the lines between restarts (Fig. 8), trajectory PCA',
  options: SOLUTION_SPACE_OPTIONS,
  recordFile: RECORD_FILE,
  record: SolutionSpaceRecordSchema,
  recordKey,
  plan,
  run,
  report,
};
