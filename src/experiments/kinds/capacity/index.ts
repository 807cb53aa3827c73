/**
 * `experiment: capacity` (the default): the paper's capacity sweep. For every (model, source, length, K, text) cram the
 * text into K vectors and record the outcome (records.ts). Plan, run and report are in their files.
 */
import type { ExperimentKind } from '../../kind.ts';
import { CAPACITY_OPTIONS } from './options.ts';
import { plan, type PlannedJob } from './plan.ts';
import {
  CURVES_FILE,
  CurveRecordSchema,
  RECORD_FILE,
  recordKey,
  SampleRecordSchema,
  type SampleRecord,
} from './records.ts';
import { capacityReport } from './report.ts';
import { run } from './run.ts';

export const capacity: ExperimentKind<PlannedJob, SampleRecord> = {
  name: 'capacity',
  description:
    "the paper's capacity sweep: every (model, source, length, K, text) crammed once; Table 1 and Figs. 1, 3, 4, 5",
  options: CAPACITY_OPTIONS,
  recordFile: RECORD_FILE,
  record: SampleRecordSchema,
  recordKey,
  plan,
  run,
  report: (input) =>
    capacityReport({
      records: input.records,
      curves: input.readJsonl(CURVES_FILE, CurveRecordSchema),
      skipped: input.skipped,
      badLines: input.badLines,
    }),
};
