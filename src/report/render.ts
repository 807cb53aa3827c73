/**
 * Vega-Lite (or Vega) spec → SVG (vega's headless View.toSVG) → PNG (resvg).
 * resvg draws text only with a font it can load: we hand it the DejaVu TTFs shipped by the npm package
 * `dejavu-fonts-ttf` (so the PNG has text on any machine) plus the system fonts.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

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

function isVegaLite(spec: object): spec is TopLevelSpec {
  const schema = (spec as { $schema?: string }).$schema;
  if (schema) return schema.includes('vega-lite');
  // A Vega spec has marks/scales at the top; a Vega-Lite one has mark/layer/facet/concat/repeat.
  return !('marks' in spec) && !('signals' in spec && 'scales' in spec);
}

/** Render a spec to an SVG string. */
export async function specToSvg(spec: TopLevelSpec | vega.Spec): Promise<string> {
  const vg = isVegaLite(spec) ? compile(spec).spec : (spec as vega.Spec);
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
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

/** Write `outBase.svg` and `outBase.png` (2× scale); returns both paths and the SVG text. */
export async function renderSpec(
  spec: TopLevelSpec | vega.Spec,
  outBase: string,
  opts: { scale?: number } = {},
): Promise<{ svg: string; png: string; svgText: string }> {
  const svgText = await specToSvg(spec);
  mkdirSync(dirname(outBase), { recursive: true });
  const svg = `${outBase}.svg`;
  const png = `${outBase}.png`;
  writeFileSync(svg, svgText);
  writeFileSync(png, svgToPng(svgText, opts.scale ?? 2));
  return { svg, png, svgText };
}
