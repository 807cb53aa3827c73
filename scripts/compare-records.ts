/**
 * Compares the records of two runs of the same config (e.g. one process against its shards): keys in one only, keys
 * recorded more than once, and fields that differ. A field differs when it is not a number and is unequal, an integer
 * and unequal, or a float more than `floatTol` apart relative to its size (a flipped near-tie argmax, which the
 * engine allows between batch compositions, moves an accuracy by 1/(N−1) and the step counts after it).
 *
 *   node --import tsx scripts/compare-records.ts results/<a> results/<b> [--json]
 *
 * Both folders are read as `cram report` reads them (the folder's own record file and every shard's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { experimentKind } from '../src/experiments/kinds/index.ts';
import { readMergedJsonl } from '../src/run/shards.ts';

export interface FieldDiff {
  key: string;
  field: string;
  a: unknown;
  b: unknown;
}

export interface RecordDiff {
  /** Distinct keys in a and in b. */
  keysA: number;
  keysB: number;
  onlyA: string[];
  onlyB: string[];
  /** Keys recorded more than once (in any file of the run). */
  duplicatesA: string[];
  duplicatesB: string[];
  /** Fields that differ beyond the float tolerance, timing fields left out. */
  differing: FieldDiff[];
  /** Records with at least one differing field. */
  recordsDiffering: number;
  /** Largest relative difference among float fields that are within the tolerance. */
  maxFloatRel: number;
}

const duplicatesOf = (keys: string[]) => {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const k of keys) (seen.has(k) ? dup : seen).add(k);
  return [...dup];
};

export function diffRecords<R extends object>(
  a: R[],
  b: R[],
  key: (r: R) => string,
  opts: { ignore?: string[]; floatTol?: number } = {},
): RecordDiff {
  const ignore = new Set(opts.ignore ?? ['seconds']);
  const tol = opts.floatTol ?? 1e-3;
  const byKey = (rs: R[]) => new Map(rs.map((r) => [key(r), r] as const));
  const ma = byKey(a);
  const mb = byKey(b);
  const differing: FieldDiff[] = [];
  const recs = new Set<string>();
  let maxFloatRel = 0;
  for (const [k, ra] of ma) {
    const rb = mb.get(k);
    if (!rb) continue;
    const xa = ra as Record<string, unknown>;
    const xb = rb as Record<string, unknown>;
    for (const f of new Set([...Object.keys(xa), ...Object.keys(xb)])) {
      if (ignore.has(f)) continue;
      const va = xa[f];
      const vb = xb[f];
      if (typeof va === 'number' && typeof vb === 'number' && !(Number.isInteger(va) && Number.isInteger(vb))) {
        const rel = Math.abs(va - vb) / Math.max(1, Math.abs(va), Math.abs(vb));
        if (rel <= tol) {
          maxFloatRel = Math.max(maxFloatRel, rel);
          continue;
        }
      } else if (JSON.stringify(va) === JSON.stringify(vb)) continue;
      differing.push({ key: k, field: f, a: va, b: vb });
      recs.add(k);
    }
  }
  return {
    keysA: ma.size,
    keysB: mb.size,
    onlyA: [...ma.keys()].filter((k) => !mb.has(k)),
    onlyB: [...mb.keys()].filter((k) => !ma.has(k)),
    duplicatesA: duplicatesOf(a.map(key)),
    duplicatesB: duplicatesOf(b.map(key)),
    differing,
    recordsDiffering: recs.size,
    maxFloatRel,
  };
}

/** Every record of a run folder (its own file and every shard's), duplicates kept, and the kind's key. */
export function runRecords(dir: string): { records: object[]; key: (r: object) => string } {
  let name = 'capacity';
  try {
    const c = YAML.parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as { experiment?: unknown };
    if (typeof c?.experiment === 'string') name = c.experiment;
  } catch {
    /* the default kind */
  }
  const kind = experimentKind(name);
  return { records: readMergedJsonl(dir, kind.recordFile, kind.record), key: (r) => kind.recordKey(r) };
}

export function formatDiff(d: RecordDiff, a = 'a', b = 'b'): string {
  const lines = [
    `${a}: ${d.keysA} keys${d.duplicatesA.length ? `, ${d.duplicatesA.length} recorded twice or more` : ', each once'}; ` +
      `${b}: ${d.keysB} keys${d.duplicatesB.length ? `, ${d.duplicatesB.length} recorded twice or more` : ', each once'}`,
    `only in ${a}: ${d.onlyA.length}, only in ${b}: ${d.onlyB.length}`,
    `records with a differing outcome: ${d.recordsDiffering} (${d.differing.length} fields); other floats within ${d.maxFloatRel.toExponential(1)} relative`,
    ...d.differing.map((x) => `  ${x.key} ${x.field}: ${JSON.stringify(x.a)} vs ${JSON.stringify(x.b)}`),
  ];
  return lines.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dirA, dirB] = process.argv.slice(2).filter((x) => !x.startsWith('--'));
  if (!dirA || !dirB) {
    process.stderr.write(
      'usage: node --import tsx scripts/compare-records.ts <run folder a> <run folder b> [--json]\n',
    );
    process.exit(2);
  }
  const ra = runRecords(dirA);
  const rb = runRecords(dirB);
  const d = diffRecords(ra.records, rb.records, ra.key);
  process.stdout.write(process.argv.includes('--json') ? JSON.stringify(d) + '\n' : formatDiff(d, dirA, dirB));
}
