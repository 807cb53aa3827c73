/**
 * One run's report: figures (SVG + PNG), CSV tables, report.md and a self-contained report.html.
 *
 * runDir/
 *   figures/<name>.svg|png   figures (a)–(e) of figures.ts, plus any extra ones
 *   capacity.csv             capacityTable rows (per model, source, K)
 *   accuracy_by_length.csv   accuracyByLength rows
 *   ce_fit.csv               Figure-3 fit per model, source, K
 *   table1.csv, table1.md    Table 1 (source × metric, columns models)
 *   report.md, report.html
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { CurveRecord, SampleRecord } from '../results/sample-record.ts';
import { accuracyByLength, capacityTable, ceThresholdFits, type CapacityRow, type CeThresholdRow } from '../metrics/aggregate.ts';
import { buildFigures, modelOrder, sourceOrder, type FigureEntry } from './figures.ts';
import { renderSpec } from './render.ts';
import {
  accuracyCsv, capacityCsv, ceFitCsv, csvFromRows, formatMeanStd, table1, table1CsvRows, table1Html, table1Markdown,
} from './tables.ts';

export interface ReportInput {
  records: SampleRecord[];
  curves?: CurveRecord[];
  /** The run's configuration, printed as JSON. */
  config?: object;
  /** Machine, backend, versions, ..., printed as JSON. */
  environment?: object;
  /** Wall time of the whole run, seconds; omitted when unknown. */
  wallSeconds?: number;
  title?: string;
  /** Figures to add after (a)–(e), e.g. compareRuns' capacity vs model. */
  extraFigures?: FigureEntry[];
  /** Extra Markdown paragraph under "What was run". */
  note?: string;
}

export interface ReportFigure {
  name: string;
  title: string;
  /** Paths of the rendered files; absent when skipped. */
  svg?: string;
  png?: string;
  /** Why the figure was not drawn. */
  skipped?: string;
}

export interface ReportResult {
  /** Every file written. */
  files: string[];
  figures: ReportFigure[];
  /** report.md / report.html paths. */
  markdown: string;
  html: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmtNum(v: number | null, digits = 1): string {
  return v === null || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

function fmtPct(v: number | null): string {
  return v === null || !Number.isFinite(v) ? '–' : `${(100 * v).toFixed(1)} %`;
}

function fmtDuration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s - 3600 * h - 60 * m;
  return `${h}:${String(m).padStart(2, '0')}:${sec.toFixed(1).padStart(4, '0')}`;
}

/** Make ids unique when several SVGs are inlined into one HTML page. */
function prefixSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/<\?xml[^>]*>\s*/, '')
    .replace(/\bid="([^"]+)"/g, `id="${prefix}$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}$1"`);
}

/** A plain list of what the records cover. */
function runSummary(records: readonly SampleRecord[]): string[] {
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const models = modelOrder(records);
  const lines: string[] = [];
  lines.push(`- Texts crammed: ${records.length}`);
  lines.push(`- Runs: ${uniq(records.map((r) => r.run)).join(', ') || '–'}`);
  lines.push(`- Models: ${models.map((m) => {
    const r = records.find((x) => x.model === m)!;
    return `${m} (d = ${r.embed_dim}, V = ${r.embedding_rows})`;
  }).join('; ') || '–'}`);
  lines.push(`- Sources: ${sourceOrder(records).join(', ') || '–'}`);
  for (const s of sourceOrder(records)) {
    const ls = uniq(records.filter((r) => r.source === s).map((r) => r.length)).sort((a, b) => a - b);
    const shown = ls.length > 12 ? `${ls.length} distinct lengths, ${ls[0]}–${ls[ls.length - 1]}` : ls.join(', ');
    lines.push(`- Lengths (${s}), tokens: ${shown}`);
  }
  lines.push(`- Number of [mem] vectors K: ${uniq(records.map((r) => r.n_mem)).sort((a, b) => a - b).join(', ') || '–'}`);
  const stops = new Map<string, number>();
  for (const r of records) stops.set(r.stop_reason, (stops.get(r.stop_reason) ?? 0) + 1);
  lines.push(`- Stop reasons: ${[...stops].map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`);
  const exact = records.filter((r) => r.regenerated_exact).length;
  lines.push(`- Exact greedy regeneration: ${exact} of ${records.length} texts`);
  return lines;
}

const CAP_HEAD = ['Model', 'Source', 'K', 'Capacity, tokens', 'Theoretical, tokens', 'Token gain', 'Info gain, nats', 'Utilization', 'Saturated / texts', 'Exact regen.'];
function capRow(r: CapacityRow): string[] {
  return [
    r.model, r.source, String(r.n_mem), r.capacity === null ? '–' : String(r.capacity), fmtNum(r.theoretical_capacity, 0),
    formatMeanStd(r.token_gain_mean, r.token_gain_std), formatMeanStd(r.info_gain_nats_mean, r.info_gain_nats_std),
    fmtPct(r.utilization), `${r.n_saturated} / ${r.n_samples}`, fmtPct(r.exact_rate),
  ];
}

const FIT_HEAD = ['Model', 'Source', 'K', 'C_H = −b, nats', 'Fit RMSE, nats', 'Texts fitted (acc < 0.99)', 'Red line, nats', 'Lossless texts'];
function fitRow(r: CeThresholdRow): string[] {
  return [r.model, r.source, String(r.n_mem), fmtNum(r.c_h), fmtNum(r.rmse), String(r.n_fit), fmtNum(r.red_line), String(r.n_lossless)];
}

function mdTable(head: string[], rows: string[][]): string {
  const e = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${head.map(e).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(e).join(' | ')} |`)].join('\n');
}

function htmlTable(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

/** Write the report into runDir; returns every path written and the figure list (drawn or skipped). */
export async function writeReport(runDir: string, input: ReportInput): Promise<ReportResult> {
  const { records, curves = [], config = {}, environment = {}, wallSeconds } = input;
  const title = input.title ?? 'Cramming report';
  const figDir = join(runDir, 'figures');
  mkdirSync(figDir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string) => {
    const p = join(runDir, name);
    writeFileSync(p, text);
    files.push(p);
    return p;
  };

  // Tables.
  const cap = capacityTable(records);
  const fits = ceThresholdFits(records);
  const t1 = table1(records, cap);
  write('capacity.csv', capacityCsv(cap));
  write('accuracy_by_length.csv', accuracyCsv(accuracyByLength(records)));
  write('ce_fit.csv', ceFitCsv(fits));
  write('table1.csv', csvFromRows(table1CsvRows(t1)));
  write('table1.md', table1Markdown(t1));

  // Figures.
  const entries = [...buildFigures(records, curves), ...(input.extraFigures ?? [])];
  const figures: (ReportFigure & { caption: string; svgText?: string })[] = [];
  for (const e of entries) {
    if (!e.spec) {
      figures.push({ name: e.name, title: e.title, caption: e.caption, skipped: e.skipped ?? 'no data' });
      continue;
    }
    const out = await renderSpec(e.spec, join(figDir, e.name));
    files.push(out.svg, out.png);
    figures.push({ name: e.name, title: e.title, caption: e.caption, svg: out.svg, png: out.png, svgText: out.svgText });
  }

  // report.md
  const md: string[] = [`# ${title}`, '', `Generated ${new Date().toISOString()}.`, '', '## What was run', '', ...runSummary(records)];
  if (input.note) md.push('', input.note);
  md.push('', '## Table 1', '',
    'Max: largest tested length whose mean best accuracy is ≥ 0.99. Gains: mean ± sample std over texts with best accuracy ≤ 0.99, pooled over all lengths (information gain in nats).',
    '', table1Markdown(t1).trimEnd(),
    '', '## Capacity per model, source and K', '',
    'Theoretical capacity: K·d·16/log2(V) tokens (Eq. 1). Utilization: mean token gain / theoretical capacity.',
    '', mdTable(CAP_HEAD, cap.map(capRow)),
    '', '## Cross-entropy threshold (Fig. 3 fit)', '', mdTable(FIT_HEAD, fits.map(fitRow)),
    '', '## Figures', '');
  for (const f of figures) {
    md.push(`### ${f.title}`, '');
    if (f.skipped) {
      md.push(`*Not drawn (\`${f.name}\`): ${f.skipped}.*`, '');
    } else {
      const rel = relative(runDir, f.png!).split('\\').join('/');
      const relSvg = relative(runDir, f.svg!).split('\\').join('/');
      md.push(`![${f.title}](${rel})`, '', `${f.caption} ([SVG](${relSvg}))`, '');
    }
  }
  md.push('## Configuration', '', '```json', JSON.stringify(config, null, 2), '```', '',
    '## Environment', '', '```json', JSON.stringify(environment, null, 2), '```', '',
    '## Wall time', '', wallSeconds === undefined ? 'Not recorded.' : `${wallSeconds.toFixed(1)} s (${fmtDuration(wallSeconds)})`, '');
  const markdown = write('report.md', md.join('\n'));

  // report.html (figures inlined as SVG)
  const figHtml = figures.map((f, i) => f.skipped
    ? `<section><h3>${esc(f.title)}</h3><p class="skip">Not drawn (<code>${esc(f.name)}</code>): ${esc(f.skipped)}.</p></section>`
    : `<section><h3>${esc(f.title)}</h3><div class="fig">${prefixSvgIds(f.svgText!, `f${i}-`)}</div><p>${esc(f.caption)}</p></section>`).join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; } td.num { text-align: right; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.fig svg { max-width: 100%; height: auto; } .skip { color: #885; font-style: italic; }
</style></head><body>
<h1>${esc(title)}</h1>
<p>Generated ${esc(new Date().toISOString())}.</p>
<h2>What was run</h2>
<ul>${runSummary(records).map((l) => `<li>${esc(l.replace(/^- /, ''))}</li>`).join('')}</ul>
${input.note ? `<p>${esc(input.note)}</p>` : ''}
<h2>Table 1</h2>
<p>Max: largest tested length whose mean best accuracy is ≥ 0.99. Gains: mean ± sample std over texts with best accuracy ≤ 0.99, pooled over all lengths (information gain in nats).</p>
${table1Html(t1)}
<h2>Capacity per model, source and K</h2>
${htmlTable(CAP_HEAD, cap.map(capRow))}
<h2>Cross-entropy threshold (Fig. 3 fit)</h2>
${htmlTable(FIT_HEAD, fits.map(fitRow))}
<h2>Figures</h2>
${figHtml}
<h2>Configuration</h2>
<pre>${esc(JSON.stringify(config, null, 2))}</pre>
<h2>Environment</h2>
<pre>${esc(JSON.stringify(environment, null, 2))}</pre>
<h2>Wall time</h2>
<p>${wallSeconds === undefined ? 'Not recorded.' : `${wallSeconds.toFixed(1)} s (${fmtDuration(wallSeconds)})`}</p>
</body></html>
`;
  const htmlPath = write('report.html', html);

  return {
    files,
    figures: figures.map(({ name, title: t, svg, png, skipped }) => ({ name, title: t, svg, png, skipped })),
    markdown, html: htmlPath,
  };
}
