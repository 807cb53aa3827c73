/** The one-step kind's figures, in report order. */
import type { Figure } from '../../../../report/figures/common.ts';
import type { DecodeTimeRow, OneStepAccuracyRow, OneStepCapacityRow } from '../tables.ts';
import type { OneStepCurve, OneStepRecord, SampleRecord } from '../records.ts';
import { decodeTimeFigure } from './decode-time.ts';
import { oneStepAccuracyFigure } from './one-step-accuracy.ts';
import { oneStepCurvesFigure } from './one-step-curves.ts';

/** What the one-step kind's figures are drawn from. */
export interface OneStepFigureData {
  records: readonly OneStepRecord[];
  /** Autoregressive (capacity kind) records of the same texts and lengths. */
  ar: readonly SampleRecord[];
  accuracy: readonly OneStepAccuracyRow[];
  capacity: readonly OneStepCapacityRow[];
  times: readonly DecodeTimeRow[];
  curves: readonly OneStepCurve[];
}

export const ONE_STEP_FIGURES: readonly Figure<OneStepFigureData>[] = [
  { name: 'one_step_accuracy_vs_length', draw: (d) => oneStepAccuracyFigure(d.accuracy, d.capacity) },
  { name: 'decode_time', draw: (d) => decodeTimeFigure(d.times) },
  { name: 'one_step_curves', draw: (d) => oneStepCurvesFigure(d.curves) },
];
