/**
 * Every figure the reports can draw, one module per figure in this folder, listed here. A kind's report
 * (src/experiments/kinds/<kind>.ts) names the list it draws; a new figure is a new file plus one line below.
 */
import type { DecodeTimeRow, OneStepAccuracyRow, OneStepCapacityRow, OneStepCurve, OneStepRecord } from '../../experiments/kinds/one-step.ts';
import type { ProgressiveCurve, ProgressiveRecord, StagesLine } from '../../experiments/kinds/progressive.ts';
import type { CurveRecord, SampleRecord } from '../../results/sample-record.ts';
import { accuracyVsLengthFigure } from './accuracy-vs-length.ts';
import { capacityByModelFigure } from './capacity-by-model.ts';
import { vectorsScalingFigure } from './capacity-vs-vectors.ts';
import { ceScatterFigure } from './ce-scatter.ts';
import type { FigureEntry } from './common.ts';
import { contextAblationFigure, type ContextAblationPoint } from './context-ablation.ts';
import { interpolationFigure, type InterpolationPoint } from './interpolation.ts';
import { curvesFigure } from './optimization-curves.ts';
import { sideEffectsFigure, type SideEffectsPoint } from './side-effects.ts';
import { solutionCosineFigure, type CosinePoint } from './solution-cosine.ts';
import { trajectoryPcaFigure, type TrajectoryPoint } from './trajectory-pca.ts';
import { utilizationFigure } from './utilization.ts';
import { horizonDistributionFigure } from './horizon-distribution.ts';
import { horizonVsGridFigure } from './horizon-vs-grid.ts';
import { progressiveCurvesFigure } from './progressive-curves.ts';
import { progressiveStepsFigure } from './progressive-steps.ts';
import { decodeTimeFigure } from './decode-time.ts';
import { oneStepAccuracyFigure } from './one-step-accuracy.ts';
import { oneStepCurvesFigure } from './one-step-curves.ts';

export type { FigureEntry } from './common.ts';
export { modelOrder, sourceOrder } from './common.ts';

/** A figure: its file stem and how it is drawn from a kind's data. */
export interface Figure<D> {
  name: string;
  draw(data: D): FigureEntry;
}

/** What the capacity figures are drawn from: the run's records and its recorded optimisation curves. */
export interface CapacityFigureData {
  records: readonly SampleRecord[];
  curves: readonly CurveRecord[];
}

/** The capacity sweep's figures (paper Figs. 1, 3, 4, 5 and the optimisation curves), in report order. */
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

/** What the progressive kind's figures are drawn from. */
export interface ProgressiveFigureData {
  records: readonly ProgressiveRecord[];
  /** The fixed-grid capacity records of the same texts. */
  grid: readonly SampleRecord[];
  stages: readonly StagesLine[];
  curves: readonly ProgressiveCurve[];
}

/** Progressive cramming (experiment: progressive). */
export const PROGRESSIVE_FIGURES: readonly Figure<ProgressiveFigureData>[] = [
  { name: 'horizon_distribution', draw: (d) => horizonDistributionFigure(d.records, d.grid) },
  { name: 'horizon_vs_grid', draw: (d) => horizonVsGridFigure(d.records) },
  { name: 'progressive_steps', draw: (d) => progressiveStepsFigure(d.records) },
  { name: 'progressive_curves', draw: (d) => progressiveCurvesFigure(d.curves) },
];

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

/** One-step generation (experiment: one-step). */
export const ONE_STEP_FIGURES: readonly Figure<OneStepFigureData>[] = [
  { name: 'one_step_accuracy_vs_length', draw: (d) => oneStepAccuracyFigure(d.accuracy, d.capacity) },
  { name: 'decode_time', draw: (d) => decodeTimeFigure(d.times) },
  { name: 'one_step_curves', draw: (d) => oneStepCurvesFigure(d.curves) },
];

/** What the solution-space figures are drawn from (rows made by kinds/solution-space.ts). */
export interface SolutionSpaceFigureData {
  cosines: readonly CosinePoint[];
  interpolation: readonly InterpolationPoint[];
  trajectories: readonly TrajectoryPoint[];
  /** Joint PC1 and PC2 shares per trajectory panel. */
  panelShares: Readonly<Record<string, [number, number]>>;
}

/** `experiment: solution-space` (paper Figs. 7 and 8, trajectory PCA). */
export const SOLUTION_SPACE_FIGURES: readonly Figure<SolutionSpaceFigureData>[] = [
  { name: 'solution_cosine', draw: (d) => solutionCosineFigure(d.cosines) },
  { name: 'interpolation_accuracy', draw: (d) => interpolationFigure(d.interpolation) },
  { name: 'trajectory_pca', draw: (d) => trajectoryPcaFigure(d.trajectories, d.panelShares) },
];

/** `experiment: context-ablation` (paper §4.7). */
export const CONTEXT_ABLATION_FIGURES: readonly Figure<{ rows: readonly ContextAblationPoint[] }>[] = [
  { name: 'context_ablation', draw: (d) => contextAblationFigure(d.rows) },
];

/** `experiment: side-effects`. */
export const SIDE_EFFECTS_FIGURES: readonly Figure<{ samples: readonly SideEffectsPoint[] }>[] = [
  { name: 'side_effects', draw: (d) => sideEffectsFigure(d.samples) },
];

export {
  accuracyVsLengthFigure, capacityByModelFigure, ceScatterFigure, curvesFigure, utilizationFigure, vectorsScalingFigure,
  interpolationFigure, solutionCosineFigure, trajectoryPcaFigure, contextAblationFigure, sideEffectsFigure,
};
