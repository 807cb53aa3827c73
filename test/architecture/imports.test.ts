/**
 * The house stays acyclic and layered: no import circle in src/, no import from a lower layer to a higher one, every
 * file placed in a layer (the table and the rules are in ./import-graph.ts and the README's Layout section).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS } from '../../src/experiments/kinds/index.ts';
import { cycles, importGraph, importSpecifiers, LAYERS, unplaced, upward, type Graph } from './import-graph.ts';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/**
 * Exceptions being fixed elsewhere, if ever there are some again (none today). The test fails while a line here no
 * longer happens, so the lists cannot go stale.
 */
const KNOWN_CYCLES: string[] = [];
const KNOWN_UPWARD: string[] = [];

test('the parser sees static, type-only, re-exported and dynamic imports, and not commented-out ones', () => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from '../b/b.ts';",
    "export { c } from './c.ts';",
    "export * from './d.ts';",
    "import './side-effect.ts';",
    "import {\n  e,\n  type F,\n} from './e.ts';",
    "const g = await import('./g.ts');",
    "import x from 'node:fs';",
    "// import { no } from './commented.ts';",
    "/* import { no } from './block.ts'; */",
    "const s = 'import nothing from ./string';",
  ].join('\n');
  assert.deepEqual(importSpecifiers(text), [
    './a.ts',
    '../b/b.ts',
    './c.ts',
    './d.ts',
    './side-effect.ts',
    './e.ts',
    './g.ts',
  ]);
});

test('the checks find a circle and an import that climbs a layer', () => {
  const g: Graph = new Map([
    ['models/a.ts', ['cram/b.ts']],
    ['cram/b.ts', ['models/a.ts', 'engine/c.ts']],
    ['engine/c.ts', []],
    ['paths/index.ts', ['engine/c.ts']],
  ]);
  assert.deepEqual(cycles(g), [['cram/b.ts', 'models/a.ts']]);
  assert.deepEqual(upward(g), ['models/a.ts → cram/b.ts', 'paths/index.ts → engine/c.ts']);
  assert.deepEqual(unplaced(new Map([['newfolder/x.ts', []]])), ['newfolder/x.ts']);
});

test('src/ has no import circle and no import from a lower layer to a higher one', () => {
  const graph = importGraph(SRC);
  assert.ok(graph.size > 100, `only ${graph.size} source files found under src/`);
  assert.deepEqual(
    unplaced(graph),
    [],
    `files in no layer: add their folder to LAYERS (${Object.keys(LAYERS).join(', ')})`,
  );
  const found = cycles(graph).map((c) => c.join(' '));
  assert.deepEqual(
    found.filter((c) => !KNOWN_CYCLES.includes(c)),
    [],
    'import circles',
  );
  assert.deepEqual(
    KNOWN_CYCLES.filter((c) => !found.includes(c)),
    [],
    'a known circle is gone: delete it from KNOWN_CYCLES',
  );
  const up = upward(graph);
  assert.deepEqual(
    up.filter((u) => !KNOWN_UPWARD.includes(u)),
    [],
    'imports from a lower layer to a higher one',
  );
  assert.deepEqual(
    KNOWN_UPWARD.filter((u) => !up.includes(u)),
    [],
    'a known upward import is gone: delete it from KNOWN_UPWARD',
  );
});

test('src/report/ knows no experiment kind: it imports nothing from experiments/ or run/ and names no kind', () => {
  const graph = importGraph(SRC);
  const report = [...graph].filter(([f]) => f.startsWith('report/'));
  assert.ok(report.length > 3, 'src/report/ holds the report modules');
  assert.deepEqual(
    report.flatMap(([f, tos]) => tos.filter((t) => /^(experiments|run)\//.test(t)).map((t) => `${f} → ${t}`)),
    [],
  );
  const kinds = Object.keys(KINDS).filter((k) => k !== 'capacity'); // "capacity" is also a metric's name
  for (const [f] of report) {
    const code = readFileSync(join(SRC, f), 'utf8');
    for (const k of kinds) assert.ok(!code.includes(`'${k}'`) && !code.includes(`"${k}"`), `${f} names the kind ${k}`);
  }
});
