/**
 * A run's report, whatever the experiment kind: figures (SVG + PNG), the kind's CSV tables, report.md and a
 * self-contained report.html. The kind supplies the content (its report.ts): summary lines,
 * sections, tables and figures; this file lays them out with the configuration, environment and wall time.
 * Every file is written atomically (temp + rename): a full disk or a crash never leaves a truncated report or figure.
 *
 * runDir/
 *   figures/<name>.svg|png   the kind's figures
 *   <table files>            the kind's CSV / Markdown tables
 *   report.md, report.html
 */
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Marked } from 'marked';
import { writeFileAtomic } from '../files.ts';
import type { FigureEntry } from './figures/common.ts';
import { renderSpec } from './render.ts';

/** A section of report.md; report.html is rendered from the same Markdown. */
export interface ReportSection {
  title: string;
  markdown: string;
}

export interface ReportTable {
  /** File name in the run folder, e.g. "capacity.csv". */
  file: string;
  content: string;
}

/** What a kind puts into its report. */
export interface ReportContent {
  /** "What was run": one line each (Markdown list items without the dash). */
  summary: string[];
  /** Short paragraphs after the summary (skipped texts, excluded records, unreadable lines). */
  notes?: string[];
  sections: ReportSection[];
  tables: ReportTable[];
  figures: FigureEntry[];
}

export interface ReportMeta {
  title?: string;
  /** The run's configuration, printed as JSON. */
  config?: object;
  /** Machine, backend, versions, ..., printed as JSON. */
  environment?: object;
  /** Wall time of the whole run, seconds; omitted when unknown. */
  wallSeconds?: number;
  /** One line about the sessions (how many, how many interrupted or killed). */
  sessions?: string;
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

/**
 * Markdown -> HTML for report.html (GitHub-flavoured: tables, code blocks). Raw HTML in the Markdown is not passed
 * through: with the html/tag tokenizers off, a cell such as "<unk>" is printed as text, escaped by marked.
 */
const markdownToHtml = new Marked({ gfm: true, tokenizer: { html: () => undefined, tag: () => undefined } });
const renderMarkdown = (md: string) => markdownToHtml.parse(md, { async: false });
const renderInline = (md: string) => markdownToHtml.parseInline(md, { async: false });

/** A section's Markdown as HTML, rendered as report.html renders it (the results explorer shows sections with it). */
export function sectionHtml(markdown: string): string {
  return renderMarkdown(markdown);
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

export function mdTable(head: string[], rows: string[][]): string {
  const e = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.map(e).join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(e).join(' | ')} |`),
  ].join('\n');
}

/** Write the report into runDir; returns every path written and the figure list (drawn or skipped). */
export async function writeReport(
  runDir: string,
  content: ReportContent,
  meta: ReportMeta = {},
): Promise<ReportResult> {
  const { config = {}, environment = {}, wallSeconds } = meta;
  const title = meta.title ?? 'Cramming report';
  const figDir = join(runDir, 'figures');
  mkdirSync(figDir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string) => {
    const p = join(runDir, name);
    writeFileAtomic(p, text);
    files.push(p);
    return p;
  };
  for (const t of content.tables) write(t.file, t.content);

  const figures: (ReportFigure & { caption: string; svgText?: string })[] = [];
  for (const e of content.figures) {
    if (!e.spec) {
      figures.push({ name: e.name, title: e.title, caption: e.caption, skipped: e.skipped ?? 'no data' });
      continue;
    }
    const out = await renderSpec(e.spec, join(figDir, e.name));
    files.push(out.svg, out.png);
    figures.push({
      name: e.name,
      title: e.title,
      caption: e.caption,
      svg: out.svg,
      png: out.png,
      svgText: out.svgText,
    });
  }
  const wall =
    wallSeconds === undefined
      ? 'Not recorded.'
      : `${wallSeconds.toFixed(1)} s (${fmtDuration(wallSeconds)})${meta.sessions ? `; ${meta.sessions}` : ''}`;
  const notes = content.notes ?? [];

  const generated = new Date().toISOString();
  /** The report as Markdown; `image` writes a drawn figure's picture (a PNG link in report.md, the SVG in HTML). */
  const document = (image: (f: (typeof figures)[number], i: number) => string) => {
    const md: string[] = [
      `# ${title}`,
      '',
      `Generated ${generated}.`,
      '',
      '## What was run',
      '',
      ...content.summary.map((l) => `- ${l}`),
    ];
    for (const n of notes) md.push('', n);
    for (const s of content.sections) md.push('', `## ${s.title}`, '', s.markdown.trimEnd());
    md.push('', '## Figures', '');
    figures.forEach((f, i) => {
      md.push(`### ${f.title}`, '');
      if (f.skipped) {
        md.push(`*Not drawn (\`${f.name}\`): ${f.skipped}.*`, '');
      } else {
        const relSvg = relative(runDir, f.svg!).split('\\').join('/');
        md.push(image(f, i), '', `${f.caption} ([SVG](${relSvg}))`, '');
      }
    });
    md.push(
      '## Configuration',
      '',
      '```json',
      JSON.stringify(config, null, 2),
      '```',
      '',
      '## Environment',
      '',
      '```json',
      JSON.stringify(environment, null, 2),
      '```',
      '',
      '## Wall time',
      '',
      wall,
      '',
    );
    return md.join('\n');
  };
  const markdown = write(
    'report.md',
    document((f) => `![${f.title}](${relative(runDir, f.png!).split('\\').join('/')})`),
  );

  // report.html: the same Markdown rendered, each figure's paragraph replaced by its inlined SVG.
  const slot = (i: number) => `%%figure-${i}%%`;
  const body = renderMarkdown(document((_, i) => slot(i))).replace(
    /<p>%%figure-(\d+)%%<\/p>/g,
    (_, i: string) => `<div class="fig">${prefixSvgIds(figures[Number(i)]!.svgText!, `f${i}-`)}</div>`,
  );
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${renderInline(title)}</title>
<style>
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.fig svg { max-width: 100%; height: auto; } p > em:only-child { color: #885; }
</style></head><body>
${body}</body></html>
`;
  const htmlPath = write('report.html', html);

  return {
    files,
    figures: figures.map(({ name, title: t, svg, png, skipped }) => ({ name, title: t, svg, png, skipped })),
    markdown,
    html: htmlPath,
  };
}
