/** The context-ablation figure (paper §4.7). */
import type { Figure } from '../../../../report/figures/common.ts';
import { contextAblationFigure, type ContextAblationPoint } from './context-ablation.ts';

export const CONTEXT_ABLATION_FIGURES: readonly Figure<{ rows: readonly ContextAblationPoint[] }>[] = [
  { name: 'context_ablation', draw: (d) => contextAblationFigure(d.rows) },
];
