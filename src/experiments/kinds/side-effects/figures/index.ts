/** The side-effects figure. */
import type { Figure } from '../../../../report/figures/common.ts';
import { sideEffectsFigure, type SideEffectsPoint } from './side-effects.ts';

export const SIDE_EFFECTS_FIGURES: readonly Figure<{ samples: readonly SideEffectsPoint[] }>[] = [
  { name: 'side_effects', draw: (d) => sideEffectsFigure(d.samples) },
];
