/**
 * Merge several capacity runs (their samples.jsonl, and curves.jsonl where present) into one report, plus a figure of
 * decoding capacity per model.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ReportResult } from '../report/report.ts';
import type { BadLine } from '../results/run-folder.ts';
import {
  CurveRecordSchema,
  SampleRecordSchema,
  type CurveRecord,
  type SampleRecord,
} from '../results/sample-record.ts';
import { COMPARISON_FIGURES } from '../experiments/kinds/capacity/figures/index.ts';
import { writeCapacityReport } from '../experiments/kinds/capacity/report.ts';
import { readMergedJsonl, runFileCopies } from './shards.ts';

/** Same text crammed the same way (the same record appearing in two runs' files is counted once). */
const sampleKey = (r: SampleRecord) =>
  [r.model, r.source, r.length, r.n_mem, r.sample_index, r.seed, r.ids_sha256].join('\u0000');

export async function compareRuns(runDirs: string[], outDir: string): Promise<ReportResult & { duplicates: number }> {
  if (runDirs.length === 0) throw new Error('compareRuns: no run folders given');
  const records: SampleRecord[] = [];
  const curves: CurveRecord[] = [];
  const badLines: BadLine[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const perRun: Record<string, number> = {};
  for (const dir of runDirs) {
    // The run folder's own records and, for a run split into shards, every shard's (shards.ts).
    const copies = runFileCopies(dir, 'samples.jsonl').filter((c) => existsSync(c.path));
    if (copies.length === 0) throw new Error(`compareRuns: ${join(dir, 'samples.jsonl')} not found`);
    const rs = readMergedJsonl(dir, 'samples.jsonl', SampleRecordSchema, (b) =>
      badLines.push({ ...b, file: join(dir, b.file) }),
    );
    perRun[resolve(dir)] = rs.length;
    for (const r of rs) {
      const k = sampleKey(r);
      if (seen.has(k)) {
        duplicates++;
        continue;
      }
      seen.add(k);
      records.push(r);
    }
    curves.push(
      ...readMergedJsonl(dir, 'curves.jsonl', CurveRecordSchema, (b) =>
        badLines.push({ ...b, file: join(dir, b.file) }),
      ),
    );
  }
  mkdirSync(outDir, { recursive: true });
  const result = await writeCapacityReport(outDir, {
    records,
    curves,
    badLines,
    title: `Comparison of ${runDirs.length} runs`,
    config: { runs: perRun },
    environment: { node: process.version, platform: `${process.platform}-${process.arch}` },
    extraFigures: COMPARISON_FIGURES,
    note: duplicates > 0 ? `${duplicates} records appearing in more than one run were counted once.` : undefined,
  });
  return { ...result, duplicates };
}
