/**
 * Golden records: run a reduced, seeded config in-process and compare the JSONL files it writes with a fixture
 * captured from the code before a refactoring. Each fixture line is `{ "file": <jsonl file>, ...line }`; lines are
 * sorted by file and key, timing fields are dropped. Floats are compared to 1e-4 relative: the same machine gives the
 * same bits, but another CPU's ONNX Runtime kernels sum in another order (~1e-7 per pass), which a few dozen AdamW
 * steps amplify to ~1e-5 (measured in quick-records.test.ts across engines). Everything else (steps, stages, stop
 * reasons, hashes, file names) must match exactly: a change there is a behaviour change, not rounding.
 * Refresh a fixture only on purpose (a change meant to change records): UPDATE_FIXTURE=1.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { runExperiment } from '../../../src/run/harness.ts';
import { ready } from '../../helpers.ts';

type Line = Record<string, unknown>;

const TIMING = new Set([
  'seconds',
  'decode_onepass_ms',
  'decode_onepass_min_ms',
  'decode_greedy_ms',
  'decode_greedy_min_ms',
  'decode_speedup',
]);

/** Runs `config` (a name and its fields; output_dir is set here) and returns the lines of `files`, without timing. */
export async function runReduced(config: Line, files: string[], keyOf: (l: Line) => string): Promise<Line[]> {
  await ready;
  const work = mkdtempSync(join(tmpdir(), 'cram-golden-'));
  try {
    const file = join(work, `${config.name}.yaml`);
    writeFileSync(file, YAML.stringify({ ...config, output_dir: join(work, 'results') }));
    const r = await runExperiment(file, { quiet: true, signals: false });
    const out: Line[] = [];
    for (const f of files) {
      const path = join(r.runDir, f);
      assert.ok(existsSync(path), `${f} was written`);
      const lines = readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Line);
      const untimed = (l: Line) => Object.fromEntries(Object.entries(l).filter(([k]) => !TIMING.has(k)));
      const kept = lines.map((l) => ({ file: f, ...untimed(l) }));
      out.push(...kept.sort((a, b) => keyOf(a).localeCompare(keyOf(b))));
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function compare(got: unknown, want: unknown, where: string): void {
  if (typeof want === 'number' && !Number.isInteger(want)) {
    assert.equal(typeof got, 'number', where);
    const close = Math.abs((got as number) - want) <= 1e-4 * Math.max(1, Math.abs(want));
    assert.ok(close, `${where}: ${got} vs ${want}`);
  } else if (Array.isArray(want)) {
    const same = Array.isArray(got) && got.length === want.length;
    assert.ok(same, `${where}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    want.forEach((w, i) => compare((got as unknown[])[i], w, `${where}[${i}]`));
  } else if (want !== null && typeof want === 'object') {
    assert.ok(got !== null && typeof got === 'object', where);
    assert.deepEqual(Object.keys(got as object).sort(), Object.keys(want).sort(), `fields of ${where}`);
    for (const [k, v] of Object.entries(want)) compare((got as Line)[k], v, `${where}.${k}`);
  } else {
    assert.deepEqual(got, want, where);
  }
}

/** Compares the lines with the fixture (or writes it with UPDATE_FIXTURE=1). */
export function checkGolden(fixtureFile: string, got: Line[], keyOf: (l: Line) => string): void {
  if (process.env.UPDATE_FIXTURE === '1') {
    writeFileSync(fixtureFile, got.map((x) => JSON.stringify(x)).join('\n') + '\n');
  }
  const want = readFileSync(fixtureFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
  assert.deepEqual(got.map(keyOf), want.map(keyOf), 'the same lines, in the same order');
  want.forEach((w, i) => compare(got[i], w, keyOf(w)));
}
