/** The solution-space figures (paper Figs. 7 and 8, trajectory PCA), in report order. */
import type { Figure } from '../../../../report/figures/common.ts';
import { interpolationFigure, type InterpolationPoint } from './interpolation.ts';
import { solutionCosineFigure, type CosinePoint } from './solution-cosine.ts';
import { trajectoryPcaFigure, type TrajectoryPoint } from './trajectory-pca.ts';

/** What the solution-space figures are drawn from (rows made by report.ts). */
export interface SolutionSpaceFigureData {
  cosines: readonly CosinePoint[];
  interpolation: readonly InterpolationPoint[];
  trajectories: readonly TrajectoryPoint[];
  /** Joint PC1 and PC2 shares per trajectory panel. */
  panelShares: Readonly<Record<string, [number, number]>>;
}

export const SOLUTION_SPACE_FIGURES: readonly Figure<SolutionSpaceFigureData>[] = [
  { name: 'solution_cosine', draw: (d) => solutionCosineFigure(d.cosines) },
  { name: 'interpolation_accuracy', draw: (d) => interpolationFigure(d.interpolation) },
  { name: 'trajectory_pca', draw: (d) => trajectoryPcaFigure(d.trajectories, d.panelShares) },
];
