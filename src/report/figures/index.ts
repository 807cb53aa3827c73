/**
 * Every figure the reports can draw, one module per figure in this folder, each typed by its own rows (no kind is
 * imported here). A kind lists the figures it draws, with the data it draws them from, in its own module
 * (src/experiments/kinds/<kind>.ts); a new figure is a new file here plus one line in its kind's list.
 */
import { accuracyVsLengthFigure } from './accuracy-vs-length.ts';
import { capacityByModelFigure } from './capacity-by-model.ts';
import { vectorsScalingFigure } from './capacity-vs-vectors.ts';
import { ceScatterFigure } from './ce-scatter.ts';
import type { FigureEntry } from './common.ts';
import { contextAblationFigure } from './context-ablation.ts';
import { interpolationFigure } from './interpolation.ts';
import { curvesFigure } from './optimization-curves.ts';
import { sideEffectsFigure } from './side-effects.ts';
import { solutionCosineFigure } from './solution-cosine.ts';
import { trajectoryPcaFigure } from './trajectory-pca.ts';
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

export {
  accuracyVsLengthFigure,
  capacityByModelFigure,
  ceScatterFigure,
  curvesFigure,
  utilizationFigure,
  vectorsScalingFigure,
  interpolationFigure,
  solutionCosineFigure,
  trajectoryPcaFigure,
  contextAblationFigure,
  sideEffectsFigure,
  horizonDistributionFigure,
  horizonVsGridFigure,
  progressiveCurvesFigure,
  progressiveStepsFigure,
  decodeTimeFigure,
  oneStepAccuracyFigure,
  oneStepCurvesFigure,
};
