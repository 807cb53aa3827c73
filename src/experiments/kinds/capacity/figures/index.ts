/** The capacity sweep's figures, in report order, and the one `cram compare` adds. */
import type { Figure } from '../../../../report/figures/common.ts';
import type { CurveRecord, SampleRecord } from '../records.ts';
import { accuracyVsLengthFigure } from './accuracy-vs-length.ts';
import { capacityByModelFigure } from './capacity-by-model.ts';
import { vectorsScalingFigure } from './capacity-vs-vectors.ts';
import { ceScatterFigure } from './ce-scatter.ts';
import { curvesFigure } from './optimization-curves.ts';
import { utilizationFigure } from './utilization.ts';

/** What the capacity figures are drawn from: the run's records and its recorded optimisation curves. */
export interface CapacityFigureData {
  records: readonly SampleRecord[];
  curves: readonly CurveRecord[];
}

/** Paper Figs. 1, 3, 4, 5 and the optimisation curves, in report order. */
export const CAPACITY_FIGURES: readonly Figure<CapacityFigureData>[] = [
  { name: 'accuracy_vs_length', draw: (d) => accuracyVsLengthFigure(d.records) },
  { name: 'ce_compressed_vs_original', draw: (d) => ceScatterFigure(d.records) },
  { name: 'capacity_vs_vectors', draw: (d) => vectorsScalingFigure(d.records) },
  { name: 'theoretical_vs_achieved', draw: (d) => utilizationFigure(d.records) },
  { name: 'optimization_curves', draw: (d) => curvesFigure(d.curves, d.records) },
];

/** Added when several runs are compared (`cram compare`). */
export const COMPARISON_FIGURES: readonly Figure<CapacityFigureData>[] = [
  { name: 'capacity_vs_model', draw: (d) => capacityByModelFigure(d.records) },
];
