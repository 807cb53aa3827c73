/**
 * A fixed-grid capacity sweep run inside another kind, for comparison on the same texts (progressive: horizon vs grid
 * capacity; one-step: one-pass vs autoregressive capacity). The grid's jobs are exactly the capacity kind's (same keys,
 * same seeds, same settings: `max_steps`, `patience`, `optimizer` of the config), so its records are what
 * `experiment: capacity` would give for these texts. They go to `capacity_samples.jsonl` (SampleRecord lines, the
 * capacity kind's samples.jsonl format), appended as each text finishes: resuming repeats no finished grid text (an
 * invalid line's text is crammed again).
 */
import { readJsonl } from '../../../results/run-folder.ts';
import type { RunContext } from '../../kind.ts';
import { capacity } from './index.ts';
import type { PlannedJob } from './plan.ts';
import { recordKey, SampleRecordSchema, type SampleRecord } from './records.ts';

export const GRID_FILE = 'capacity_samples.jsonl';

/** The valid grid records made so far (other lines skipped; the last line of a key wins). */
export function readGrid(file: string): SampleRecord[] {
  const byKey = new Map<string, SampleRecord>();
  for (const r of readJsonl(file, undefined, SampleRecordSchema)) byKey.set(gridKey(r), r);
  return [...byKey.values()];
}

export const gridKey = recordKey;

/** Crams the grid jobs not in the grid file yet (capacity kind's pipeline); returns every grid record of `jobs`. */
export async function runGrid(ctx: RunContext<object>, jobs: PlannedJob[]): Promise<Map<string, SampleRecord>> {
  const file = ctx.file(GRID_FILE);
  const done = new Map(readGrid(file).map((r) => [gridKey(r), r]));
  const todo = [...new Map(jobs.filter((j) => !done.has(j.key)).map((j) => [j.key, j])).values()].sort(
    (a, b) => a.nMem - b.nMem || a.ids.length - b.ids.length || a.key.localeCompare(b.key),
  );
  if (todo.length > 0) {
    await capacity.run(
      {
        ...ctx,
        record: (r: SampleRecord) => {
          ctx.append(GRID_FILE, r);
          done.set(gridKey(r), r);
        },
        progress: (p) => ctx.progress({ ...p, detail: `fixed grid: ${p.detail}` }),
      },
      todo,
    );
  }
  return done;
}
