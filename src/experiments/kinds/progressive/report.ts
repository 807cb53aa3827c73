/** The progressive report: compression horizons per model, source and K, next to the fixed grid's capacity. */
import { capacityTable, meanStd, type CapacityRow } from '../../../metrics/aggregate.ts';
import { median } from '../../../metrics/stats.ts';
import { fmt, formatMeanStd } from '../../../report/format.ts';
import { mdTable, type ReportContent } from '../../../report/report.ts';
import { capacityCsv, toCsv } from '../../../report/tables.ts';
import { columnsOf } from '../../../results/record-schema.ts';
import { describeBadLines } from '../../../results/run-folder.ts';
import type { ReportInput } from '../../kind.ts';
import { gridKey } from '../capacity/grid.ts';
import { PROGRESSIVE_FIGURES, type ProgressiveFigureData } from './figures/index.ts';
import {
  CURVES_FILE,
  GRID_FILE,
  ProgressiveCurveSchema,
  progressiveKey,
  SampleRecordSchema,
  STAGES_FILE,
  StagesLineSchema,
  type ProgressiveRecord,
  type SampleRecord,
} from './records.ts';

export interface HorizonRow {
  model: string;
  source: string;
  n_mem: number;
  texts: number;
  horizon_mean: number | null;
  horizon_std: number | null;
  horizon_median: number | null;
  horizon_min: number | null;
  horizon_max: number | null;
  passed_length_mean: number | null;
  reached_full: number;
  steps_mean: number | null;
  steps_std: number | null;
  /** Passes per passed stage (the warm start's price per token of horizon). */
  steps_per_passed_stage: number | null;
  texts_with_lr_reset: number;
  /** Paper's capacity of the grid (largest length with mean best accuracy ≥ 0.99 over these texts); null: none or no grid. */
  grid_capacity: number | null;
  /** Mean over texts of the largest grid length crammed from scratch with exact regeneration. */
  grid_exact_max_mean: number | null;
  /** Mean of horizon − grid_exact_max over texts. */
  horizon_minus_grid_exact_mean: number | null;
  target_tokens: number;
}

export function horizonTable(records: readonly ProgressiveRecord[], grid: readonly SampleRecord[]): HorizonRow[] {
  const groups = new Map<string, ProgressiveRecord[]>();
  for (const r of records) {
    const k = `${r.model}\u0000${r.source}\u0000${r.n_mem}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const caps = new Map<string, CapacityRow>(
    capacityTable([...grid]).map((c) => [`${c.model}\u0000${c.source}\u0000${c.n_mem}`, c]),
  );
  const rows: HorizonRow[] = [];
  for (const [k, rs] of groups) {
    const h = rs.map((r) => r.horizon);
    const hs = meanStd(h);
    const st = meanStd(rs.map((r) => r.steps));
    const passedStages = rs.reduce((a, r) => a + r.stages_passed, 0);
    const withGrid = rs.filter((r) => r.grid_exact_max !== null);
    rows.push({
      model: rs[0].model,
      source: rs[0].source,
      n_mem: rs[0].n_mem,
      texts: rs.length,
      horizon_mean: hs.mean,
      horizon_std: hs.std,
      horizon_median: median(h),
      horizon_min: Math.min(...h),
      horizon_max: Math.max(...h),
      passed_length_mean: meanStd(rs.map((r) => r.passed_length)).mean,
      reached_full: rs.filter((r) => r.reached_full).length,
      steps_mean: st.mean,
      steps_std: st.std,
      steps_per_passed_stage: passedStages > 0 ? rs.reduce((a, r) => a + r.steps, 0) / passedStages : null,
      texts_with_lr_reset: rs.filter((r) => r.lr_resets > 0).length,
      grid_capacity: caps.get(k)?.capacity ?? null,
      grid_exact_max_mean: withGrid.length ? meanStd(withGrid.map((r) => r.grid_exact_max!)).mean : null,
      horizon_minus_grid_exact_mean: withGrid.length
        ? meanStd(withGrid.map((r) => r.horizon - r.grid_exact_max!)).mean
        : null,
      target_tokens: Math.max(...rs.map((r) => r.n_tokens)),
    });
  }
  return rows.sort((a, b) => a.model.localeCompare(b.model) || a.source.localeCompare(b.source) || a.n_mem - b.n_mem);
}

const f1 = (v: number | null) => fmt(v, 1);
const HEAD = [
  'Model',
  'Source',
  'K',
  'Texts',
  'Horizon, tokens',
  'Median (min–max)',
  'Full target',
  'Steps per text',
  'Steps per passed stage',
  'Texts with a reset',
  'Grid capacity (mean acc ≥ 0.99)',
  'Grid exact, per text',
  'Horizon − grid exact',
];
const row = (r: HorizonRow) => [
  r.model,
  r.source,
  String(r.n_mem),
  String(r.texts),
  formatMeanStd(r.horizon_mean, r.horizon_std),
  `${f1(r.horizon_median)} (${r.horizon_min}–${r.horizon_max})`,
  `${r.reached_full} of ${r.texts} (${r.target_tokens} tokens)`,
  formatMeanStd(r.steps_mean, r.steps_std, 0),
  f1(r.steps_per_passed_stage),
  String(r.texts_with_lr_reset),
  r.grid_capacity === null ? '–' : String(r.grid_capacity),
  f1(r.grid_exact_max_mean),
  f1(r.horizon_minus_grid_exact_mean),
];

/** Last line per text wins (a line appended again after a kill). */
function lastPerText<T extends { model: string; source: string; n_mem: number; sample_index: number }>(
  lines: T[],
): T[] {
  const m = new Map<string, T>();
  for (const l of lines) m.set(progressiveKey(l.model, l.source, l.n_mem, l.sample_index), l);
  return [...m.values()];
}

export function progressiveReport(input: ReportInput<ProgressiveRecord>): ReportContent {
  const { records } = input;
  const grid = lastPerGrid(input.readJsonl(GRID_FILE, SampleRecordSchema));
  const stages = lastPerText(input.readJsonl(STAGES_FILE, StagesLineSchema));
  const curves = lastPerText(input.readJsonl(CURVES_FILE, ProgressiveCurveSchema));
  const table = horizonTable(records, grid);
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const stops = new Map<string, number>();
  for (const r of records) stops.set(r.stop_reason, (stops.get(r.stop_reason) ?? 0) + 1);
  const summary = [
    `Texts: ${records.length} (model × source × K × text)`,
    `Models: ${uniq(records.map((r) => r.model)).join(', ') || '–'}; sources: ${uniq(records.map((r) => r.source)).join(', ') || '–'}; K: ${
      uniq(records.map((r) => r.n_mem))
        .sort((a, b) => a - b)
        .join(', ') || '–'
    }`,
    `Schedule: ${uniq(records.map((r) => r.schedule)).join(', ') || '–'}; target: ${uniq(records.map((r) => r.n_tokens)).join(', ')} tokens (BOS counted)`,
    `Stop reasons: ${[...stops].map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`,
    `Greedy regeneration rejected teacher-forced accuracy 1.0 in ${records.reduce((a, r) => a + r.greedy_rejections, 0)} stage check(s)`,
    `Fixed grid (capacity kind, same texts): ${grid.length} texts crammed${
      grid.length
        ? ` at lengths ${uniq(grid.map((r) => r.length))
            .sort((a, b) => a - b)
            .join(', ')}`
        : ''
    }`,
  ];
  const notes: string[] = [];
  if (input.skipped.length > 0) {
    notes.push(
      `Texts shorter than the target are left out (their horizon would be capped by their end): ${input.skipped
        .map((s) => `${s.source} #${s.sample_index} (${s.n_tokens} tokens)`)
        .slice(0, 10)
        .join(', ')}${input.skipped.length > 10 ? ', …' : ''}.`,
    );
  }
  notes.push(...describeBadLines(input.badLines));
  const explain =
    'Horizon: longest prefix of the target (tokens, BOS counted) that greedy regeneration from the kept vectors reproduces, mean ± std over texts. ' +
    "Grid capacity: the paper's capacity of the same texts crammed from scratch at each grid length (largest length with mean best accuracy ≥ 0.99). " +
    'Grid exact, per text: the largest grid length at which the text was regenerated exactly from scratch, mean over texts.';
  const data: ProgressiveFigureData = { records, grid, stages, curves };
  return {
    summary,
    notes,
    sections: [{ title: 'Compression horizons', markdown: `${explain}\n\n${mdTable(HEAD, table.map(row))}` }],
    tables: [
      { file: 'horizons.csv', content: toCsv(table) },
      { file: 'grid_capacity.csv', content: capacityCsv(capacityTable(grid)) },
      { file: 'grid_results.csv', content: toCsv(grid, columnsOf(SampleRecordSchema) as (keyof SampleRecord)[]) },
    ],
    figures: PROGRESSIVE_FIGURES.map((fig) => fig.draw(data)),
  };
}

function lastPerGrid(lines: SampleRecord[]): SampleRecord[] {
  const m = new Map<string, SampleRecord>();
  for (const l of lines) m.set(gridKey(l), l);
  return [...m.values()];
}
