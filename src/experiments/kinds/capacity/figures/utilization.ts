/** Paper Fig. 5: theoretical capacity vs achieved token gain, and the utilization. */
import type { TopLevelSpec } from 'vega-lite';
import type { SampleRecord } from '../../../../results/sample-record.ts';
import { capacityTable } from '../../../../metrics/aggregate.ts';
import {
  CONFIG,
  type FigureEntry,
  PANEL_H,
  SCHEMA,
  THEORETICAL,
  modelOrder,
  palette,
  round,
  smallestK,
  sourceOrder,
} from '../../../../report/figures/common.ts';

export function utilizationFigure(records: readonly SampleRecord[]): FigureEntry {
  const base = {
    name: 'theoretical_vs_achieved',
    title: 'Theoretical capacity vs achieved token gain, and capacity utilization (paper Fig. 5)',
    caption:
      'Left: theoretical capacity d·16/log2(V) (tokens, Eq. 1) next to the mean token gain per source ' +
      '(texts with accuracy ≤ 0.99; error bars ±1 std). Right: utilization = token gain / theoretical capacity. Smallest K per model.',
  };
  const table = smallestK(capacityTable(records));
  const withGain = table.filter((r) => r.token_gain_mean !== null);
  if (withGain.length === 0) return { ...base, skipped: 'no texts with accuracy ≤ 0.99, so no token gain to compare' };
  const models = modelOrder(table);
  const sources = sourceOrder(withGain);
  const values: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  for (const r of table) {
    if (!seen.has(r.model)) {
      seen.add(r.model);
      values.push({ panel: 'tokens', model: r.model, series: THEORETICAL, value: round(r.theoretical_capacity, 1) });
    }
  }
  for (const r of withGain) {
    const sd = r.token_gain_std ?? 0;
    values.push({
      panel: 'tokens',
      model: r.model,
      series: r.source,
      value: round(r.token_gain_mean!, 1),
      lo: r.token_gain_std === null ? null : round(Math.max(0, r.token_gain_mean! - sd), 1),
      hi: r.token_gain_std === null ? null : round(r.token_gain_mean! + sd, 1),
    });
    values.push({ panel: 'util', model: r.model, series: r.source, src: r.source, value: round(r.utilization!, 4) });
  }
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: {
      domain: [THEORETICAL, ...sources],
      range: ['#b0b0b0', ...sources.map((_, i) => palette[i % palette.length])],
    },
  } as const;
  const xModel = {
    field: 'model',
    type: 'nominal',
    sort: models,
    title: 'Model',
    axis: { labelAngle: -30, labelLimit: 200, labelOverlap: false },
  } as const;
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: base.title,
    data: { values },
    resolve: { scale: { x: 'independent', xOffset: 'independent', y: 'independent', color: 'shared' } },
    hconcat: [
      {
        width: { step: 22 * (sources.length + 1) + 10 },
        height: PANEL_H + 40,
        layer: [
          {
            transform: [{ filter: "datum.panel === 'tokens'" }],
            mark: { type: 'bar' },
            encoding: {
              x: xModel,
              xOffset: { field: 'series', sort: [THEORETICAL, ...sources] },
              y: { field: 'value', type: 'quantitative', title: 'Tokens: theoretical capacity vs token gain' },
              color,
            },
          },
          {
            transform: [{ filter: "datum.panel === 'tokens' && isValid(datum.lo)" }],
            mark: { type: 'rule', color: 'black' },
            encoding: {
              x: xModel,
              xOffset: { field: 'series', sort: [THEORETICAL, ...sources] },
              y: { field: 'lo', type: 'quantitative' },
              y2: { field: 'hi' },
            },
          },
        ],
      },
      {
        width: { step: 22 * sources.length + 10 },
        height: PANEL_H + 40,
        transform: [{ filter: "datum.panel === 'util'" }],
        mark: { type: 'bar' },
        encoding: {
          x: xModel,
          xOffset: { field: 'src', sort: sources, scale: { domain: sources } },
          y: {
            field: 'value',
            type: 'quantitative',
            title: 'Utilization: token gain / theoretical',
            axis: { format: '.1~%' },
          },
          color,
        },
      },
    ],
    config: CONFIG,
  };
  return { ...base, spec };
}
