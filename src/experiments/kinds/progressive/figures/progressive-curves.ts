/** Progressive cramming: stage length and loss per step of the recorded texts. */
import type { TopLevelSpec } from 'vega-lite';
import { CONFIG, type FigureEntry, PANEL_H, PANEL_W, SCHEMA, round } from '../../../../report/figures/common.ts';

/** Per-step loss and stage length of one recorded text. */
export interface ProgressiveCurve {
  model: string;
  source: string;
  n_mem: number;
  sample_index: number;
  loss: number[];
  /** The stage (target prefix length) each step optimised. */
  length: number[];
}

export function progressiveCurvesFigure(curves: readonly ProgressiveCurve[], maxPointsPerCurve = 400): FigureEntry {
  const base = {
    name: 'progressive_curves',
    title: 'Progressive cramming: stage length and loss per step',
    caption:
      "For the recorded texts: the stage (target prefix length) each step optimised, and that step's mean " +
      "cross-entropy over the stage's prefix. The loss jumps when a stage is passed and the target grows.",
  };
  const usable = curves.filter((c) => c.length.length > 0);
  if (usable.length === 0) return { ...base, skipped: 'no curves recorded (curves: 0)' };
  const values: Record<string, unknown>[] = [];
  for (const c of usable) {
    const id = `${c.model} | ${c.source} | K=${c.n_mem} | #${c.sample_index}`;
    const n = c.length.length;
    const stride = Math.max(1, Math.ceil(n / maxPointsPerCurve));
    for (let s = 0; s < n; s += stride) {
      // Keep stage changes exact: the first step of every stage is always drawn.
      values.push({
        id,
        step: s + 1,
        stage: c.length[s],
        loss: Number.isFinite(c.loss[s]) ? round(Math.max(c.loss[s], 1e-6), 6) : null,
      });
    }
    for (let s = 1; s < n; s++)
      if (c.length[s] !== c.length[s - 1] && s % stride !== 0)
        values.push({
          id,
          step: s + 1,
          stage: c.length[s],
          loss: Number.isFinite(c.loss[s]) ? round(Math.max(c.loss[s], 1e-6), 6) : null,
        });
  }
  const x = { field: 'step', type: 'quantitative', title: 'Step' } as const;
  const color = { field: 'id', type: 'nominal', title: 'Text' } as const;
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    hconcat: [
      {
        width: PANEL_W + 40,
        height: PANEL_H + 20,
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.6 },
        encoding: { x, y: { field: 'stage', type: 'quantitative', title: 'Stage length, tokens' }, color },
      },
      {
        width: PANEL_W + 40,
        height: PANEL_H + 20,
        transform: [{ filter: 'datum.loss !== null' }],
        mark: { type: 'line', strokeWidth: 1.1, opacity: 0.85 },
        encoding: {
          x,
          y: { field: 'loss', type: 'quantitative', title: 'Loss, nats/token (log scale)', scale: { type: 'log' } },
          color,
        },
      },
    ],
    config: CONFIG,
  };
  return { ...base, spec };
}
