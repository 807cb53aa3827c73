/** The progressive kind's figures, in report order. */
import type { Figure } from '../../../../report/figures/common.ts';
import type { ProgressiveCurve, ProgressiveRecord, SampleRecord, StagesLine } from '../records.ts';
import { horizonDistributionFigure } from './horizon-distribution.ts';
import { horizonVsGridFigure } from './horizon-vs-grid.ts';
import { progressiveCurvesFigure } from './progressive-curves.ts';
import { progressiveStepsFigure } from './progressive-steps.ts';

/** What the progressive kind's figures are drawn from. */
export interface ProgressiveFigureData {
  records: readonly ProgressiveRecord[];
  /** The fixed-grid capacity records of the same texts. */
  grid: readonly SampleRecord[];
  stages: readonly StagesLine[];
  curves: readonly ProgressiveCurve[];
}

export const PROGRESSIVE_FIGURES: readonly Figure<ProgressiveFigureData>[] = [
  { name: 'horizon_distribution', draw: (d) => horizonDistributionFigure(d.records, d.grid) },
  { name: 'horizon_vs_grid', draw: (d) => horizonVsGridFigure(d.records) },
  { name: 'progressive_steps', draw: (d) => progressiveStepsFigure(d.records) },
  { name: 'progressive_curves', draw: (d) => progressiveCurvesFigure(d.curves) },
];
