/**
 * The capacity kind's JSONL lines: samples.jsonl (one SampleRecord per crammed text, the resume log) and curves.jsonl
 * (per-step loss and accuracy of the first `curves` texts). Both schemas live in src/results/sample-record.ts, because
 * metrics, tables, `cram run`, `cram compare`, the viewer and the fixed grid of the progressive and one-step kinds
 * read them too.
 */
import type { SampleRecord } from '../../../results/sample-record.ts';

export {
  CurveRecordSchema,
  SampleRecordSchema,
  type CurveRecord,
  type SampleRecord,
} from '../../../results/sample-record.ts';

export const RECORD_FILE = 'samples.jsonl';
export const CURVES_FILE = 'curves.jsonl';

/** Key of one (model, source, length, K, text): what resuming skips. */
export function jobKey(model: string, source: string, length: number, nMem: number, index: number): string {
  return `${model}|${source}|L${length}|K${nMem}|i${index}`;
}

export const recordKey = (r: SampleRecord) => jobKey(r.model, r.source, r.length, r.n_mem, r.sample_index);
