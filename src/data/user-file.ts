/**
 * Texts from a user's own file: CSV (with a header row; parsed by csv-parse) or JSONL (one JSON object per
 * line). The text is taken from one column / field, `text` by default. The format is chosen by extension:
 * `.csv` / `.tsv` are CSV (tab-delimited for .tsv), `.jsonl` / `.ndjson` / `.json` are JSONL.
 * Errors name the file, the line and what is wrong.
 */
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { readTextFile, type TextEncodingName } from '../files.ts';

export interface UserText {
  /** 0-based row among the data rows. */
  index: number;
  /** 1-based line in the file where the row starts. */
  line: number;
  text: string;
}

export function readUserTexts(path: string, column = 'text', encoding: TextEncodingName = 'utf8'): UserText[] {
  const raw = readTextFile(path, encoding, 'text file');
  if (raw.trim() === '') throw new Error(`${path}: the file is empty`);
  const ext = extname(path).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') return readCsv(path, raw, column, ext === '.tsv' ? '\t' : ',');
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return readJsonl(path, raw, column);
  throw new Error(`${path}: unknown file type "${ext}"; use .csv, .tsv or .jsonl`);
}

function readCsv(path: string, raw: string, column: string, delimiter: string): UserText[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(raw, { delimiter, bom: true, info: true, skip_empty_lines: true, relax_column_count: false }) as {
      record: string[];
      info: { lines: number };
    }[];
  } catch (e) {
    throw new Error(`${path}: cannot parse CSV: ${(e as Error).message}`);
  }
  if (records.length === 0) throw new Error(`${path}: the file is empty`);
  const header = records[0].record.map((h) => h.trim());
  const col = header.indexOf(column);
  if (col < 0) {
    throw new Error(
      `${path}:1: no column "${column}" in the header (columns: ${header.map((h) => JSON.stringify(h)).join(', ')})`,
    );
  }
  if (records.length === 1) throw new Error(`${path}: the file has a header but no data rows`);
  return records.slice(1).map(({ record, info }, index) => {
    const text = record[col] ?? '';
    // info.lines is the line where the record ends; a quoted field may span several lines.
    const line = info.lines - (record.join('').match(/\n/g)?.length ?? 0);
    if (text.trim() === '') throw new Error(`${path}:${line}: column "${column}" is empty`);
    return { index, line, text };
  });
}

function readJsonl(path: string, raw: string, column: string): UserText[] {
  const out: UserText[] = [];
  const lines = raw.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const src = lines[i].trim();
    if (src === '') continue;
    const line = i + 1;
    let obj: unknown;
    try {
      obj = JSON.parse(src);
    } catch (e) {
      throw new Error(`${path}:${line}: not valid JSON (${(e as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new Error(
        `${path}:${line}: expected a JSON object, got ${Array.isArray(obj) ? 'an array' : JSON.stringify(obj)?.slice(0, 40)}`,
      );
    }
    const rec = obj as Record<string, unknown>;
    if (!(column in rec)) {
      throw new Error(
        `${path}:${line}: no field "${column}" (fields: ${Object.keys(rec)
          .map((k) => JSON.stringify(k))
          .join(', ')})`,
      );
    }
    const text = rec[column];
    if (typeof text !== 'string') throw new Error(`${path}:${line}: field "${column}" is not a string`);
    if (text.trim() === '') throw new Error(`${path}:${line}: field "${column}" is empty`);
    out.push({ index: out.length, line, text });
  }
  if (out.length === 0) throw new Error(`${path}: the file is empty`);
  return out;
}
