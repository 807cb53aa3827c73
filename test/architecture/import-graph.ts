/**
 * The import graph of src/ and the house's layer rules, for test/architecture/imports.test.ts (and for printing the
 * counts against any tree: `node --import tsx test/architecture/import-graph.ts [src-folder]`).
 *
 * Layers, lowest first. A module may import its own layer and the layers below it, never one above; no import
 * circle at all, whatever the layers. The leaves import only leaves.
 *
 *   0  leaves       paths, files, tokenizer, data, metrics (stats, pca), results (record schemas), report (format.ts,
 *                   figures/common.ts: no kind), engine/backends.ts
 *   1  engine       graph builder with reverse mode, ONNX Runtime sessions and backends
 *   2  models       architectures, weights, configs of models
 *   3  cram         objective and decode graphs, the compiled model, optimisers, generation, limits
 *   4  config       experiment configs, and the one function from a config to cram's settings
 *   5  experiments, run, compress    the kinds (kinds/<kind>/: records, figures…); the run machinery; the compressor
 *   6  cli, serve, view   commands; the compression server; the results explorer
 *   7  index.ts     the package's entry
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Layer of each top-level entry of src/ (a folder, or a file by its name), and of single files named in full. */
export const LAYERS: Readonly<Record<string, number>> = {
  paths: 0,
  files: 0,
  tokenizer: 0,
  data: 0,
  metrics: 0,
  results: 0,
  report: 0,
  'engine/backends.ts': 0,
  engine: 1,
  models: 2,
  cram: 3,
  config: 4,
  experiments: 5,
  run: 5,
  compress: 5,
  cli: 6,
  serve: 6,
  view: 6,
  index: 7,
};

export const LAYER_NAMES = [
  'leaves',
  'engine',
  'models',
  'cram',
  'config',
  'experiments/run/compress',
  'cli/serve/view',
  'index',
];

/** Source files of a folder, recursively, as paths relative to it with forward slashes. */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|mts|mjs|js)$/.test(name)) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(root);
  return out;
}

const IMPORT =
  /(?:^|[\s;}])(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative modules a source text imports (static, type-only, re-exports and dynamic `import('…')`). */
export function importSpecifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  return [...code.matchAll(IMPORT)].map((m) => m[1] ?? m[2]).filter((s) => s.startsWith('.'));
}

/** file → the files of the same tree it imports (paths relative to the tree's root). */
export type Graph = Map<string, string[]>;

export function importGraph(root: string): Graph {
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph: Graph = new Map();
  for (const f of files) {
    const targets = importSpecifiers(readFileSync(join(root, f), 'utf8'))
      .map((s) =>
        normalize(join(dirname(f), s))
          .split(sep)
          .join('/'),
      )
      .filter((t) => known.has(t));
    graph.set(f, [...new Set(targets)]);
  }
  return graph;
}

/** The layer of a file of src/: a full-path entry of LAYERS first, else its top-level folder (or file stem). */
export function layerOf(file: string, layers: Readonly<Record<string, number>> = LAYERS): number | undefined {
  if (file in layers) return layers[file];
  const top = file.split('/')[0].replace(/\.(ts|mts|mjs|js)$/, '');
  return layers[top];
}

/** Import circles: the strongly connected components with more than one file (or a file importing itself). */
export function cycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** Imports from a lower layer to a higher one, as "from → to". */
export function upward(graph: Graph, layers: Readonly<Record<string, number>> = LAYERS): string[] {
  const out: string[] = [];
  for (const [from, tos] of graph) {
    const a = layerOf(from, layers);
    for (const to of tos) {
      const b = layerOf(to, layers);
      if (a !== undefined && b !== undefined && b > a) out.push(`${from} → ${to}`);
    }
  }
  return out.sort();
}

/** Files whose layer the table does not give (a new top-level folder must be placed in LAYERS). */
export function unplaced(graph: Graph, layers: Readonly<Record<string, number>> = LAYERS): string[] {
  return [...graph.keys()].filter((f) => layerOf(f, layers) === undefined);
}

// `node --import tsx test/architecture/import-graph.ts [src-folder]`: the counts for any tree (e.g. an old checkout).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = process.argv[2] ?? fileURLToPath(new URL('../../src', import.meta.url));
  const graph = importGraph(root);
  const c = cycles(graph);
  const u = upward(graph);
  console.log(
    `${graph.size} files; ${c.length} import circles (${c.reduce((n, x) => n + x.length, 0)} files); ${u.length} imports from a lower layer to a higher one`,
  );
  for (const x of c) console.log(`circle: ${x.join(' ')}`);
  for (const x of u) console.log(`upward: ${x}`);
  for (const x of unplaced(graph)) console.log(`unplaced: ${x}`);
}
