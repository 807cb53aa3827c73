/**
 * Vega-Lite (or Vega) spec → SVG (vega's headless View.toSVG) → PNG (resvg).
 * resvg draws text only with a font it can load: we hand it the DejaVu TTFs shipped by the npm package
 * `dejavu-fonts-ttf` (so the PNG has text on any machine) plus the system fonts.
 */
import { mkdirSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../files.ts';

/** Font family written into every spec; the first entry is what resvg finds in the bundled TTFs. */
export const FONT_FAMILY = 'DejaVu Sans, Verdana, Arial, sans-serif';
const RESVG_FAMILY = 'DejaVu Sans';

let fontFilesCache: string[] | undefined;

/** The bundled DejaVu Sans TTFs (regular, bold, oblique), or [] when the package is missing. */
export function bundledFontFiles(): string[] {
  if (fontFilesCache) return fontFilesCache;
  const files: string[] = [];
  try {
    const pkg = createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json');
    for (const f of ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf', 'DejaVuSans-BoldOblique.ttf']) {
      const p = join(dirname(pkg), 'ttf', f);
      if (existsSync(p)) files.push(p);
    }
  } catch {
    // package absent: fall back to system fonts only
  }
  fontFilesCache = files;
  return files;
}

/** Advance widths (em units) per code point of one TTF, read from its cmap (format 4) and hmtx tables. */
export function ttfAdvanceWidths(file: string): Map<number, number> {
  const buf = readFileSync(file);
  const tables = new Map<string, number>();
  const numTables = buf.readUInt16BE(4);
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + 16 * i;
    tables.set(buf.toString('latin1', rec, rec + 4), buf.readUInt32BE(rec + 8));
  }
  const head = tables.get('head');
  const hhea = tables.get('hhea');
  const hmtx = tables.get('hmtx');
  const cmap = tables.get('cmap');
  if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined)
    throw new Error(`${file}: missing tables`);
  const unitsPerEm = buf.readUInt16BE(head + 18);
  const nHMetrics = buf.readUInt16BE(hhea + 34);
  const advance = (gid: number) => buf.readUInt16BE(hmtx + 4 * Math.min(gid, nHMetrics - 1)) / unitsPerEm;
  // Find the Unicode BMP subtable (platform 3 encoding 1, or platform 0), format 4.
  let sub = -1;
  for (let i = 0, n = buf.readUInt16BE(cmap + 2); i < n; i++) {
    const platform = buf.readUInt16BE(cmap + 4 + 8 * i);
    const encoding = buf.readUInt16BE(cmap + 6 + 8 * i);
    const off = cmap + buf.readUInt32BE(cmap + 8 + 8 * i);
    if (buf.readUInt16BE(off) === 4 && ((platform === 3 && encoding === 1) || platform === 0)) {
      sub = off;
      break;
    }
  }
  const widths = new Map<number, number>();
  if (sub < 0) return widths;
  const segX2 = buf.readUInt16BE(sub + 6);
  const ends = sub + 14;
  const starts = ends + segX2 + 2;
  const deltas = starts + segX2;
  const ranges = deltas + segX2;
  for (let s = 0; s < segX2 / 2; s++) {
    const end = buf.readUInt16BE(ends + 2 * s);
    const start = buf.readUInt16BE(starts + 2 * s);
    const delta = buf.readInt16BE(deltas + 2 * s);
    const range = buf.readUInt16BE(ranges + 2 * s);
    for (let c = start; c <= end && c !== 0xffff; c++) {
      let gid: number;
      if (range === 0) gid = (c + delta) & 0xffff;
      else {
        const g = buf.readUInt16BE(ranges + 2 * s + range + 2 * (c - start));
        gid = g === 0 ? 0 : (g + delta) & 0xffff;
      }
      if (gid !== 0) widths.set(c, advance(gid));
    }
  }
  return widths;
}

let metricsInstalled = false;

/**
 * Headless vega has no canvas to measure text and guesses 0.8 em per character, which leaves big gaps
 * (and truncates legend labels). Measure with the bundled DejaVu Sans advance widths instead.
 */
export function installTextMetrics(): void {
  if (metricsInstalled) return;
  metricsInstalled = true;
  const files = bundledFontFiles();
  const regular = files.find((f) => f.endsWith('DejaVuSans.ttf'));
  const bold = files.find((f) => f.endsWith('DejaVuSans-Bold.ttf'));
  if (!regular) return;
  const reg = ttfAdvanceWidths(regular);
  const bld = bold ? ttfAdvanceWidths(bold) : reg;
  const tm = (vega as unknown as { textMetrics: { width: (item: Record<string, unknown>, text: unknown) => number } })
    .textMetrics;
  tm.width = (item, text) => {
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    const str = text == null ? '' : String(text).trim();
    const w = item.fontWeight;
    const table = w === 'bold' || Number(w) >= 600 ? bld : reg;
    let em = 0;
    for (const ch of str) em += table.get(ch.codePointAt(0)!) ?? 0.6;
    // Raw width: vega's own truncation (label limits) calls this to measure candidate strings.
    return em * size;
  };
}

function isVegaLite(spec: object): spec is TopLevelSpec {
  const schema = (spec as { $schema?: string }).$schema;
  if (schema) return schema.includes('vega-lite');
  // A Vega spec has marks/scales at the top; a Vega-Lite one has mark/layer/facet/concat/repeat.
  return !('marks' in spec) && !('signals' in spec && 'scales' in spec);
}

/** Render a spec to an SVG string. */
export async function specToSvg(spec: TopLevelSpec | vega.Spec): Promise<string> {
  installTextMetrics();
  // Quiet logger: vega-lite warns about its own dataflow optimizer ("Maximum optimization runs"), which is harmless.
  const vg = isVegaLite(spec) ? compile(spec, { logger: vega.logger(vega.Error) }).spec : (spec as vega.Spec);
  const view = new vega.View(vega.parse(vg), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterize an SVG string to PNG at `scale`× its size. */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: {
      fontFiles: bundledFontFiles(),
      loadSystemFonts: true,
      defaultFontFamily: RESVG_FAMILY,
      sansSerifFamily: RESVG_FAMILY,
    },
  });
  return resvg.render().asPng();
}

/** Write `outBase.svg` and `outBase.png` (2× scale, each atomically); returns both paths and the SVG text. */
export async function renderSpec(
  spec: TopLevelSpec | vega.Spec,
  outBase: string,
  opts: { scale?: number } = {},
): Promise<{ svg: string; png: string; svgText: string }> {
  const svgText = await specToSvg(spec);
  mkdirSync(dirname(outBase), { recursive: true });
  const svg = `${outBase}.svg`;
  const png = `${outBase}.png`;
  writeFileAtomic(svg, svgText);
  writeFileAtomic(png, svgToPng(svgText, opts.scale ?? 2));
  return { svg, png, svgText };
}
