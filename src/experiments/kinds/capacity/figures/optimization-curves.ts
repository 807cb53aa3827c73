/** Per-step accuracy and loss of the texts whose curves were recorded. */
import type { CurveRecord, SampleRecord } from '../../../../results/sample-record.ts';
import {
  curvePanelsSpec,
  type FigureEntry,
  modelOrder,
  round,
  sourceOrder,
} from '../../../../report/figures/common.ts';

export function curvesFigure(
  curves: readonly CurveRecord[],
  records: readonly SampleRecord[] = [],
  maxPointsPerCurve = 400,
): FigureEntry {
  const base = {
    name: 'optimization_curves',
    title: 'Optimization curves',
    caption: 'Teacher-forced accuracy and mean cross-entropy loss per step for the recorded texts.',
  };
  const usable = curves.filter((c) => c.loss.length > 0 || c.accuracy.length > 0);
  if (usable.length === 0) return { ...base, skipped: 'no curves recorded' };
  const values: Record<string, unknown>[] = [];
  const severalK = new Set(usable.map((c) => c.n_mem)).size > 1;
  for (const c of usable) {
    const n = Math.max(c.loss.length, c.accuracy.length);
    const stride = Math.max(1, Math.ceil(n / maxPointsPerCurve));
    const id = `${c.model} | ${c.source} | L=${c.length}${severalK ? ` K=${c.n_mem}` : ''} | #${c.sample_index}`;
    for (let s = 0; s < n; s += stride) push(s);
    if ((n - 1) % stride !== 0) push(n - 1);
    function push(s: number): void {
      const loss = c.loss[s];
      const acc = c.accuracy[s];
      values.push({
        id,
        model: c.model,
        source: c.source,
        step: s,
        loss: loss === undefined || !Number.isFinite(loss) ? null : round(Math.max(loss, 1e-6), 6),
        accuracy: acc === undefined || !Number.isFinite(acc) ? null : round(acc),
      });
    }
  }
  const dims = new Map(records.map((r) => [r.model, r.embed_dim]));
  const models = modelOrder(usable.map((c) => ({ model: c.model, embed_dim: dims.get(c.model) ?? 0 })));
  const color = { field: 'model', type: 'nominal', title: 'Model', sort: models } as const;
  const dash = { field: 'source', type: 'nominal', title: 'Text source', sort: sourceOrder(usable) } as const;
  const x = { field: 'step', type: 'quantitative', title: 'Optimization step' } as const;
  const spec = curvePanelsSpec({
    title: base.title,
    values,
    x,
    color,
    dash,
    accuracyTitle: 'Teacher-forced accuracy',
    strokeWidth: 1.4,
  });
  return { ...base, spec };
}
