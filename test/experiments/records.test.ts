/**
 * Every kind's records: one zod schema per JSONL line type gives the results.csv columns (its keys, in order) and the
 * validation on read. Lines written by this and earlier versions (the golden-record fixtures) are valid; a line that is
 * valid JSON but not a valid record is skipped and said, in the report and in `cram status`, like a torn one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { KINDS } from '../../src/experiments/kinds/index.ts';
import { CurveRecordSchema, SampleRecordSchema } from '../../src/experiments/kinds/capacity/records.ts';
import { OneStepCurveSchema, OneStepRecordSchema } from '../../src/experiments/kinds/one-step/records.ts';
import {
  ProgressiveCurveSchema,
  ProgressiveRecordSchema,
  StagesLineSchema,
} from '../../src/experiments/kinds/progressive/records.ts';
import { columnsOf, parseLine, type LineSchema } from '../../src/results/record-schema.ts';
import { describeBadLines, readJsonl, type BadLine } from '../../src/results/run-folder.ts';
import { formatStatus, runStatus } from '../../src/run/status.ts';
import { writeRunReport } from '../../src/run/run-report.ts';
import { fixture } from '../helpers.ts';
import { syntheticRecords } from '../report/synthetic.ts';

const SCHEMAS: Record<string, LineSchema> = {
  'samples.jsonl': SampleRecordSchema,
  'capacity_samples.jsonl': SampleRecordSchema,
  'curves.jsonl': CurveRecordSchema,
  'progressive.jsonl': ProgressiveRecordSchema,
  'stages.jsonl': StagesLineSchema,
  'progressive_curves.jsonl': ProgressiveCurveSchema,
  'one_step.jsonl': OneStepRecordSchema,
  'one_step_curves.jsonl': OneStepCurveSchema,
};

/** Timing fields the golden fixtures leave out (they differ run to run): put back so the lines are whole again. */
const TIMING = ['seconds', 'decode_onepass_ms', 'decode_onepass_min_ms', 'decode_greedy_ms', 'decode_greedy_min_ms'];

test('every line of the golden-record fixtures (this version and an older one) is valid by its schema', () => {
  for (const [name, defaultFile] of [
    ['quick-reduced-records.jsonl', 'samples.jsonl'],
    ['progressive-reduced-records.jsonl', ''],
    ['one-step-reduced-records.jsonl', ''],
  ]) {
    const lines = readFileSync(fixture(name), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.length > 0, name);
    for (const [i, raw] of lines.entries()) {
      const { file = defaultFile, ...line } = raw;
      const schema = SCHEMAS[file as string];
      assert.ok(schema, `${name}:${i + 1}: no schema for ${String(file)}`);
      const shape = (schema as z.ZodObject).shape as Record<string, unknown>;
      for (const t of TIMING) if (t in shape && !(t in line)) line[t] = 1;
      if ('decode_speedup' in shape && !('decode_speedup' in line)) line.decode_speedup = null;
      const r = parseLine(schema, line);
      assert.ok(r.ok, `${name}:${i + 1} (${String(file)}): ${r.ok ? '' : r.reason}`);
      // Every field the kind wrote is named by its schema, but `precision`, which the harness adds to every kind's
      // record and only the capacity record (and its CSV) holds; reading keeps it all the same.
      const named = Object.keys(shape);
      const unnamed = Object.keys(line).filter((k) => !named.includes(k) && k !== 'precision');
      assert.deepEqual(unnamed, [], `${name}:${i + 1}: fields not in the ${String(file)} schema`);
      assert.deepEqual(r.value, line, `${name}:${i + 1}: reading changed the record`);
    }
  }
});

test('results.csv columns are the record schema keys in order; a union of line types lists each scalar field once', () => {
  assert.deepEqual(columnsOf(SampleRecordSchema), Object.keys(SampleRecordSchema.shape));
  for (const kind of Object.values(KINDS)) {
    const cols = columnsOf(kind.record);
    assert.ok(cols.length > 5, kind.name);
    assert.equal(new Set(cols).size, cols.length, `${kind.name}: a column twice`);
  }
  // Arrays stay in the JSONL: the solution-space text line's interpolation is not a column.
  assert.ok(!columnsOf(KINDS['solution-space'].record).includes('interpolation'));
  assert.ok(columnsOf(KINDS['solution-space'].record).includes('mid_accuracy_mean'));
});

/** A capacity run folder: synthetic records with lines 3 and 5 replaced by valid JSON that is not a valid record. */
function runWithInvalidRecords(): { dir: string; valid: number } {
  const dir = mkdtempSync(join(tmpdir(), 'cram-records-'));
  const records = syntheticRecords({ lengths: [16, 32], nMem: [1], samplesPerLength: 2 });
  const lines = records.map((r) => JSON.stringify(r));
  const { best_accuracy: _dropped, ...missing } = records[2];
  lines[2] = JSON.stringify(missing);
  lines[4] = JSON.stringify({ ...records[4], n_mem: 'two' });
  writeFileSync(join(dir, 'samples.jsonl'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'config.yaml'), 'experiment: capacity\nname: records\n');
  return { dir, valid: lines.length - 2 };
}

test('a valid-JSON line that is not a valid record is skipped with the field named, like a torn line', () => {
  const { dir } = runWithInvalidRecords();
  try {
    const bad: BadLine[] = [];
    const good = readJsonl(
      join(dir, 'samples.jsonl'),
      (line, text, reason) => bad.push({ file: 'samples.jsonl', line, text, reason }),
      SampleRecordSchema,
    );
    assert.equal(good.length, syntheticRecords({ lengths: [16, 32], nMem: [1], samplesPerLength: 2 }).length - 2);
    assert.deepEqual(
      bad.map((b) => [b.line, b.reason]),
      [
        [3, 'best_accuracy: missing'],
        [5, 'n_mem: expected number, received string'],
      ],
    );
    assert.match(
      describeBadLines(bad)[0],
      /^samples\.jsonl: 2 invalid records skipped \(line 3: best_accuracy: missing; line 5: n_mem/,
    );
    // As plain JSON objects the same lines are all kept: the schema is what tells them apart.
    assert.equal(readJsonl(join(dir, 'samples.jsonl'), undefined, z.looseObject({})).length, good.length + 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the report and cram status say which record lines were skipped, and status does not count them done', async () => {
  const { dir, valid } = runWithInvalidRecords();
  try {
    const r = await writeRunReport(dir);
    assert.ok(r);
    assert.equal(r.badLines.length, 2);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(md, /samples\.jsonl: 2 invalid records skipped \(line 3: best_accuracy: missing; line 5: n_mem/);
    const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], columnsOf(SampleRecordSchema).join(','));
    assert.equal(csv.length, 1 + valid);
    const st = runStatus(dir);
    assert.equal(st.done, valid);
    assert.match(st.bad_lines.join('\n'), /samples\.jsonl: 2 invalid records skipped/);
    assert.match(formatStatus(st), /2 invalid records skipped .*those items are not done/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
