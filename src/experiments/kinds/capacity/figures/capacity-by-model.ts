/** Decoding capacity per model (the comparison of several runs). */
import type { SampleRecord } from '../../../../results/sample-record.ts';
import { capacityTable } from '../../../../metrics/aggregate.ts';
import { theoreticalCapacity } from '../../../../metrics/text-metrics.ts';
import {
  type FigureEntry,
  MODEL_LABEL_EXPR,
  PANEL_H,
  THEORETICAL,
  log2Ticks,
  modelOrder,
  palette,
  round,
  smallestK,
  sourceOrder,
  layeredSpec,
} from '../../../../report/figures/common.ts';

export function capacityByModelFigure(records: readonly SampleRecord[]): FigureEntry {
  const base = {
    name: 'capacity_vs_model',
    title: 'Decoding capacity per model',
    caption:
      'Largest tested length with mean accuracy ≥ 0.99 per model (sorted by embedding width d) and source; ' +
      'grey dashed: theoretical capacity d·16/log2(V). Smallest K per model.',
  };
  const table = smallestK(capacityTable(records));
  if (!table.some((r) => r.capacity !== null)) return { ...base, skipped: 'no length reached mean accuracy ≥ 0.99' };
  const models = modelOrder(table);
  const label = new Map(table.map((r) => [r.model, `${r.model} (d=${r.embed_dim})`]));
  const sources = sourceOrder(table);
  const values: Record<string, unknown>[] = [];
  for (const r of table) {
    if (r.capacity !== null) values.push({ model: label.get(r.model), series: r.source, value: r.capacity });
  }
  for (const m of models) {
    const r = table.find((t) => t.model === m)!;
    values.push({
      model: label.get(m),
      series: THEORETICAL,
      value: round(theoreticalCapacity(r.embed_dim, r.embedding_rows) * r.n_mem, 1),
    });
  }
  const x = {
    field: 'model',
    type: 'ordinal',
    sort: models.map((m) => label.get(m)),
    title: 'Model (embedding width d)',
    axis: { labelAngle: 0, labelLimit: 220, labelOverlap: false, labelExpr: MODEL_LABEL_EXPR },
  } as const;
  const capVals = values.map((v) => v.value as number);
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: {
      domain: [...sources, THEORETICAL],
      range: [...sources.map((_, i) => palette[i % palette.length]), '#999999'],
    },
  } as const;
  const spec = layeredSpec({
    title: base.title,
    values,
    width: { step: 120 },
    height: PANEL_H + 60,
    layer: [
      {
        transform: [{ filter: `datum.series !== '${THEORETICAL}'` }],
        mark: { type: 'line', point: { filled: true, size: 60 }, strokeWidth: 1.8 },
        encoding: {
          x,
          color,
          y: {
            field: 'value',
            type: 'quantitative',
            scale: { type: 'log', base: 2 },
            title: 'Tokens (log scale)',
            axis: { format: '~g', values: log2Ticks(Math.min(...capVals), Math.max(...capVals)) },
          },
        },
      },
      {
        transform: [{ filter: `datum.series === '${THEORETICAL}'` }],
        mark: { type: 'line', strokeDash: [5, 4], point: { size: 40 }, strokeWidth: 1.4 },
        encoding: { x, y: { field: 'value', type: 'quantitative' }, color },
      },
    ],
  });
  return { ...base, spec };
}
