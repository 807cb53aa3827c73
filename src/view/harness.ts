/**
 * The viewer's only door into the rest of the harness: the kind registry, the run folder's readers, the run status,
 * the capacity report and the comparison. Everything under src/view/ imports harness code through this file (and the
 * per-kind view modules in kinds/), so moving those modules touches one import list here.
 */
export { experimentKind, KIND_NAMES } from '../experiments/kinds/index.ts';
export {
  SkippedTextSchema,
  type ExperimentKind,
  type ReportInput,
  type SkippedText,
  type WorkItem,
} from '../experiments/kind.ts';
export { runStatus, type RunStatus } from '../run/status.ts';
export { lockHolder } from '../run/run-lock.ts';
export { readMergedJsonl, readMergedRecords } from '../run/shards.ts';
export { prepareExperiment } from '../run/prepare.ts';
export { describeModel, loadTokenizer } from '../run/model-info.ts';
export { capacityReport } from '../experiments/kinds/capacity/report.ts';
export { COMPARISON_FIGURES } from '../experiments/kinds/capacity/figures/index.ts';
export { compareRuns } from '../run/compare.ts';
export type { FigureEntry } from '../report/figures/common.ts';
export { sectionHtml, type ReportContent } from '../report/report.ts';
export { readJsonl, SessionLineSchema, type BadLine, type SessionLine } from '../results/run-folder.ts';
export {
  CurveRecordSchema,
  SampleRecordSchema,
  type CurveRecord,
  type SampleRecord,
} from '../results/sample-record.ts';
export type { LineSchema } from '../results/record-schema.ts';
export { loadExperimentConfig as loadConfig } from '../experiments/kinds/index.ts';
export { sourceSpec, type ExperimentConfig } from '../config/schema.ts';
export { loadSourceTexts, sourceName } from '../data/sources.ts';
export { idsSha256 } from '../cram/vector-file.ts';
export type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
export { RunFolder } from '../results/run-folder.ts';
export { capacityTable, type CapacityRow } from '../metrics/aggregate.ts';
export {
  CURVES_FILE as PROGRESSIVE_CURVES_FILE,
  ProgressiveCurveSchema,
} from '../experiments/kinds/progressive/records.ts';
