/** One-step generation: per-step accuracy of the one-pass predictions and their loss, for the recorded texts. */
import { curvePanelsSpec, type FigureEntry, round } from '../../../../report/figures/common.ts';

/** Per-step loss and accuracy of one recorded text's one-pass predictions. */
export interface OneStepCurve {
  model: string;
  source: string;
  length: number;
  /** m per text or shared. */
  m_sharing: string;
  sample_index: number;
  loss: number[];
  accuracy: number[];
}

export function oneStepCurvesFigure(curves: readonly OneStepCurve[], maxPointsPerCurve = 300): FigureEntry {
  const base = {
    name: 'one_step_curves',
    title: 'One-step optimization curves',
    caption:
      'For the recorded texts: accuracy of the one-pass predictions from [e, m, …, m] and their mean cross-entropy ' +
      'per step, one line per (text, length); colour: length, dashes: m per text or shared.',
  };
  const usable = curves.filter((c) => c.loss.length > 0);
  if (usable.length === 0) return { ...base, skipped: 'no curves recorded (curves: 0)' };
  const values: Record<string, unknown>[] = [];
  for (const c of usable) {
    const id = `${c.model}|${c.source}|${c.m_sharing}|${c.length}|${c.sample_index}`;
    const stride = Math.max(1, Math.ceil(c.loss.length / maxPointsPerCurve));
    for (let s = 0; s < c.loss.length; s += stride) {
      values.push({
        id,
        length: `L = ${c.length}`,
        L: c.length,
        m: c.m_sharing,
        step: s + 1,
        accuracy: round(c.accuracy[s]),
        loss: Number.isFinite(c.loss[s]) ? round(Math.max(c.loss[s], 1e-6), 6) : null,
      });
    }
  }
  const lengths = [...new Set(usable.map((c) => c.length))].sort((a, b) => a - b).map((l) => `L = ${l}`);
  const x = { field: 'step', type: 'quantitative', title: 'Step' } as const;
  const color = { field: 'length', type: 'nominal', title: 'Length', sort: lengths } as const;
  const dash = { field: 'm', type: 'nominal', title: 'm', legend: { symbolType: 'stroke' } } as const;
  const spec = curvePanelsSpec({
    title: base.title,
    values,
    x,
    color,
    dash,
    accuracyTitle: 'One-pass accuracy',
    strokeWidth: 1.3,
  });
  return { ...base, spec };
}
