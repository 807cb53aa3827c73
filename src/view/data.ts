/**
 * What `cram view` shows, read from the results folder alone (nothing written, no engine): the runs with their live
 * status, a run's report content (the kind's own tables and Vega-Lite figures, filtered by model/source/K), one text's
 * page, and a live comparison of capacity runs. The web server (server.ts) only routes to these functions.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import {
  capacityReport,
  capacityTable,
  sectionHtml,
  COMPARISON_FIGURES,
  describeModel,
  experimentKind,
  idsSha256,
  KIND_NAMES,
  loadSourceTexts,
  loadTokenizer,
  prepareExperiment,
  readJsonl,
  readMergedJsonl,
  readMergedRecords,
  RunFolder,
  runStatus,
  sourceName,
  sourceSpec,
  type BadLine,
  type CurveRecord,
  type ExperimentConfig,
  type FigureEntry,
  type ReportContent,
  type SampleRecord,
  SampleRecordSchema,
  CurveRecordSchema,
  SkippedTextSchema,
  SessionLineSchema,
  type SessionLine,
  type TextTokenizer,
} from './harness.ts';
import { fmt, kindView, recordRegeneration, TEXT_FIELDS, type CurveSeries, type Row } from './kinds/index.ts';
import { interactiveFigure } from './interactive.ts';
import { checkRunName, resolveInside, UnsafePathError } from './safety.ts';

export type RunState = 'running' | 'finished' | 'interrupted' | 'error' | 'not started';

export interface RunSummary {
  name: string;
  kind: string;
  models: string[];
  sources: string[];
  state: RunState;
  /** The state as `cram status` words it (killed, aborted, ...). */
  detail: string;
  done: number;
  planned: number | null;
  wall_seconds: number | null;
  /** Items per second of the running session; null when not running or not yet measurable. */
  rate: number | null;
  eta_seconds: number | null;
  last_record: string | null;
  error?: string;
}

export interface FigureView {
  name: string;
  title: string;
  caption: string;
  spec?: object;
  skipped?: string;
}

export interface RunView {
  run: RunSummary;
  config: unknown;
  summary: string[];
  notes: string[];
  sections: { title: string; html: string }[];
  figures: FigureView[];
  filters: { model: string[]; source: string[]; n_mem: number[] };
  applied: Filter;
  texts: { columns: string[]; rows: { key: string; values: unknown[] }[]; total: number; shown: number };
}

export interface TextView {
  run: string;
  kind: string;
  key: string;
  record: Row;
  facts: [string, string][];
  /** The crammed tokens (ids and their text pieces); null when the text could not be recovered. */
  tokens: { id: number; text: string }[] | null;
  text: string | null;
  /** Where the ids came from (the vector file, or the source re-read and checked against the record's hash). */
  text_from: string;
  regeneration: {
    /** Tokens after the first that came back before the first miss; -1 when not checked. */
    prefix: number;
    exact: boolean;
    /** Index (in tokens) of the first mismatching token, or null when exact / not checked. */
    first_miss: number | null;
    /** What greedy generation produced there instead, when the run kept it (runs made since `cram view`). */
    generated_miss: { id: number; text: string } | null;
    note?: string;
  } | null;
  curve: CurveSeries | null;
  vector_file: string | null;
}

export interface Filter {
  model?: string[];
  source?: string[];
  n_mem?: number[];
}

const MAX_ROWS = 2000;

/** A results folder: every run under it. */
export class ResultsFolder {
  private readonly planned = new Map<string, { mtime: number; value: number | null }>();
  private readonly tokenizers = new Map<string, TextTokenizer>();
  private readonly texts = new Map<string, Map<number, number[]>>();

  constructor(readonly root: string) {
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new Error(`${root} is not a folder; give the results folder (e.g. cram view results)`);
    }
    if (existsSync(join(root, 'config.yaml'))) {
      throw new Error(`${root} is a run folder; give the folder that holds it (cram view ${join(root, '..')})`);
    }
  }

  /** Run folders directly under the root: those with a config.yaml (or shards.json). */
  runNames(): string[] {
    return readdirSync(this.root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(e.name))
      .filter(
        (e) => existsSync(join(this.root, e.name, 'config.yaml')) || existsSync(join(this.root, e.name, 'shards.json')),
      )
      .map((e) => e.name)
      .sort();
  }

  /** The real folder of a run; refused when the name is not a plain run folder inside the root. */
  runDir(name: string): string {
    checkRunName(name);
    const dir = resolveInside(this.root, name);
    if (!existsSync(join(dir, 'config.yaml')) && !existsSync(join(dir, 'shards.json'))) {
      throw new UnsafePathError(`no run named ${name} in the results folder`, 404);
    }
    return dir;
  }

  private config(dir: string): Record<string, unknown> {
    try {
      const c = YAML.parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as unknown;
      return c && typeof c === 'object' ? (c as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }

  /** Planned items of a run (its config planned again, cached by the config's modification time). */
  private plannedItems(dir: string): number | null {
    const file = join(dir, 'config.yaml');
    if (!existsSync(file)) return null;
    const mtime = statSync(file).mtimeMs;
    const hit = this.planned.get(dir);
    if (hit && hit.mtime === mtime) return hit.value;
    let value: number | null = null;
    try {
      value = prepareExperiment(file, { quiet: true }).models.reduce((a, m) => a + m.items.length, 0);
    } catch {
      value = null;
    }
    this.planned.set(dir, { mtime, value });
    return value;
  }

  /** One run's status line: state, progress, wall time, rate and ETA. */
  summary(name: string): RunSummary {
    const dir = this.runDir(name);
    const c = this.config(dir);
    const kind = typeof c.experiment === 'string' ? c.experiment : 'capacity';
    const sources = Array.isArray(c.sources)
      ? c.sources.map((s) => {
          try {
            return sourceName(sourceSpec(s as never));
          } catch {
            return typeof s === 'string' ? s : '?';
          }
        })
      : [];
    const base: RunSummary = {
      name,
      kind,
      models: Array.isArray(c.models) ? c.models.map(String) : [],
      sources,
      state: 'not started',
      detail: '',
      done: 0,
      planned: null,
      wall_seconds: null,
      rate: null,
      eta_seconds: null,
      last_record: null,
    };
    try {
      const st = runStatus(dir, () => this.plannedItems(dir));
      const states = st.rows.map((r) => r.state);
      const running = states.includes('running');
      const last = st.rows[st.rows.length - 1]?.state ?? 'not started';
      const state: RunState = running
        ? 'running'
        : st.complete || last === 'finished'
          ? last === 'error'
            ? 'error'
            : 'finished'
          : last === 'error'
            ? 'error'
            : last === 'not started'
              ? 'not started'
              : 'interrupted';
      const lastRecord =
        st.rows
          .map((r) => r.last_record)
          .filter((x): x is string => x !== null)
          .sort()
          .pop() ?? null;
      let wall = new RunFolder(dir).sessions()?.seconds ?? null;
      const lines = readJsonl(join(dir, 'sessions.jsonl'), undefined, SessionLineSchema);
      const lastAt = Date.parse(lines[lines.length - 1]?.at ?? '');
      // A running session counts up to now, not to its last heartbeat.
      if (running && wall !== null && Number.isFinite(lastAt)) wall += Math.max(0, (Date.now() - lastAt) / 1000);
      let rate: number | null = null;
      if (running) rate = sessionRate(lines);
      const left = st.planned === null ? null : Math.max(0, st.planned - st.done);
      return {
        ...base,
        state,
        detail: running ? 'running' : last,
        done: st.done,
        planned: st.planned,
        wall_seconds: wall,
        rate,
        eta_seconds: running && rate && left !== null ? left / rate : null,
        last_record: lastRecord,
      };
    } catch (e) {
      return { ...base, state: 'error', detail: 'unreadable', error: (e as Error).message };
    }
  }

  runs(): RunSummary[] {
    return this.runNames().map((n) => this.summary(n));
  }

  /** A change stamp of a run's live files: it changes when a record, heartbeat or lock is written. */
  stamp(name: string): string {
    const dir = join(this.root, name);
    const parts: string[] = [];
    for (const f of ['sessions.jsonl', '.lock', 'config.yaml', 'shards.json', ...recordFiles()]) {
      try {
        const s = statSync(join(dir, f));
        parts.push(`${f}:${s.size}:${s.mtimeMs}`);
      } catch {
        /* absent */
      }
    }
    return parts.join('|');
  }

  private records(dir: string, kindName: string, onBad?: (b: BadLine) => void): Row[] {
    const kind = experimentKind(kindName);
    return readMergedRecords(dir, kind.recordFile, kind.record, (r) => kind.recordKey(r), onBad).records as Row[];
  }

  /** A run's page: the kind's report content over the records that pass the filter, and its table of texts. */
  run(name: string, filter: Filter = {}): RunView {
    const summary = this.summary(name);
    const dir = this.runDir(name);
    const kind = experimentKind(summary.kind);
    const badLines: BadLine[] = [];
    const all = this.records(dir, summary.kind, (b) => badLines.push(b));
    const keep = passes(filter);
    const records = all.filter(keep);
    const skipped = readJsonl(join(dir, 'skipped.jsonl'), undefined, SkippedTextSchema).filter(keep);
    let content: ReportContent;
    try {
      content = kind.report({
        records,
        skipped,
        badLines,
        readJsonl: (file, schema) =>
          readMergedJsonl(dir, file, schema, (b) => badLines.push(b)).filter((l) => keep(l as Row)),
      });
    } catch (e) {
      content = {
        summary: [],
        notes: [`The report could not be made from these records: ${(e as Error).message}`],
        sections: [],
        tables: [],
        figures: [],
      };
    }
    const view = kindView(summary.kind);
    const columns = view.columns(records);
    const rows = records.slice(0, MAX_ROWS).map((r) => ({ key: kind.recordKey(r), values: columns.map((c) => r[c]) }));
    const distinct = <T>(field: string) => [...new Set(all.map((r) => r[field]).filter((v) => v !== undefined))] as T[];
    return {
      run: summary,
      config: this.config(dir),
      summary: content.summary,
      notes: content.notes ?? [],
      sections: content.sections.map((s) => ({ title: s.title, html: sectionHtml(s.markdown) })),
      figures: content.figures.map(figureView),
      filters: {
        model: distinct<string>('model').sort(),
        source: distinct<string>('source').sort(),
        n_mem: distinct<number>('n_mem').sort((a, b) => a - b),
      },
      applied: filter,
      texts: { columns, rows, total: records.length, shown: rows.length },
    };
  }

  /** The key of the first record whose fields equal the given ones (a clicked point of a figure). */
  find(name: string, fields: Row): string | null {
    const summary = this.summary(name);
    const kind = experimentKind(summary.kind);
    const wanted = Object.entries(fields).filter(([k]) => (TEXT_FIELDS as readonly string[]).includes(k));
    if (wanted.length === 0) return null;
    const r = this.records(this.runDir(name), summary.kind).find((rec) =>
      wanted.every(([k, v]) => String(rec[k]) === String(v)),
    );
    return r ? kind.recordKey(r) : null;
  }

  /** One text's page. */
  text(name: string, key: string): TextView {
    const summary = this.summary(name);
    const dir = this.runDir(name);
    const kind = experimentKind(summary.kind);
    const record = this.records(dir, summary.kind).find((r) => kind.recordKey(r) === key);
    if (!record) throw new UnsafePathError(`no record ${key} in run ${name}`, 404);
    const view = kindView(summary.kind);
    const vectorFile = typeof record.vector_file === 'string' && record.vector_file !== '' ? record.vector_file : null;
    let vectorPath: string | null = null;
    if (vectorFile) {
      try {
        vectorPath = resolveInside(dir, vectorFile, { file: true });
      } catch {
        /* not kept, or outside the run: no link */
      }
    }
    const meta = vectorPath ? vectorMetadata(vectorPath) : {};
    let tokenizer: TextTokenizer | null = null;
    let tokErr = '';
    try {
      tokenizer = this.tokenizer(String(record.model));
    } catch (e) {
      tokErr = (e as Error).message;
    }
    let ids: number[] | null = parseIds(meta.token_ids);
    let from = ids ? 'the vector file' : '';
    if (!ids && tokenizer) {
      try {
        ids = this.sourceIds(dir, record, tokenizer);
        if (ids) from = "the source, read again with the model's tokenizer (the ids hash matches the record)";
      } catch (e) {
        from = `not recovered: ${(e as Error).message}`;
      }
    }
    if (!ids && !from)
      from = tokenizer ? 'not recovered: the run keeps no ids for this text' : `not recovered: ${tokErr}`;
    const tokens = ids && tokenizer ? pieces(tokenizer, ids) : null;
    const regen = view.regeneration ? view.regeneration(record) : recordRegeneration(record);
    const prefix = regen?.prefix ?? -1;
    const exact = regen?.exact ?? false;
    let regeneration: TextView['regeneration'] = null;
    if (regen) {
      const generated = parseIds(meta.regenerated_ids);
      const missIdx = !exact && prefix >= 0 ? prefix + 1 : null;
      const missId = generated && prefix >= 0 && generated.length > prefix ? generated[prefix] : null;
      regeneration = {
        prefix,
        exact,
        first_miss: missIdx,
        generated_miss: missId !== null && tokenizer ? { id: missId, text: tokenizer.decode([missId]) } : null,
        note:
          prefix < 0
            ? 'greedy regeneration was not checked in this run'
            : !exact && missId === null
              ? 'the run did not keep the generated tokens (capacity runs keep them since cram view); the first ' +
                'token that did not come back is marked'
              : undefined,
      };
    }
    return {
      run: name,
      kind: summary.kind,
      key,
      record,
      facts: view.facts(record),
      tokens,
      text: ids && tokenizer ? tokenizer.decode(ids) : null,
      text_from: from,
      regeneration,
      curve: view.curve?.(record, (f, schema) => readMergedJsonl(dir, f, schema) as Row[]) ?? null,
      vector_file: vectorPath ? vectorFile : null,
    };
  }

  private tokenizer(model: string): TextTokenizer {
    let t = this.tokenizers.get(model);
    if (!t) {
      t = loadTokenizer(describeModel(model));
      this.tokenizers.set(model, t);
    }
    return t;
  }

  /** A record's ids from its source, as the capacity sweep plans them, checked against the record's ids hash. */
  private sourceIds(dir: string, record: Row, tokenizer: TextTokenizer): number[] | null {
    const c = this.config(dir) as Partial<ExperimentConfig>;
    const index = record.sample_index;
    const n = typeof record.n_tokens === 'number' ? record.n_tokens : record.length;
    if (typeof index !== 'number' || typeof n !== 'number' || !Array.isArray(c.sources)) return null;
    const spec = c.sources.map((s) => sourceSpec(s)).find((s) => sourceName(s) === record.source);
    if (!spec) throw new Error(`source ${String(record.source)} is not in the run's config`);
    const cacheKey = `${dir}|${String(record.model)}|${String(record.source)}`;
    let byIndex = this.texts.get(cacheKey);
    if (!byIndex) {
      const random = spec.kind === 'random-words';
      const lengths = Array.isArray(c.lengths) ? c.lengths : [n];
      const maxLength = random ? (c.random_max_length ?? Math.max(...lengths)) : Math.max(...lengths);
      const count = random ? (c.random_samples ?? c.samples ?? 50) : (c.samples ?? 50);
      const texts = loadSourceTexts(spec, tokenizer, {
        count: Math.max(count, index + 1),
        maxLength,
        seed: c.seed ?? 0,
      });
      byIndex = new Map(texts.map((t) => [t.index, t.ids]));
      this.texts.set(cacheKey, byIndex);
    }
    const ids = byIndex.get(index)?.slice(0, n) ?? null;
    if (ids && typeof record.ids_sha256 === 'string' && idsSha256(ids) !== record.ids_sha256) {
      throw new Error('the source no longer gives the text that was crammed (its ids hash differs)');
    }
    return ids;
  }

  /** Capacity runs side by side, and the comparative report `cram compare` writes, computed without writing. */
  compare(names: string[]): CompareView {
    if (names.length < 1) throw new UnsafePathError('pick at least one run to compare', 400);
    const records: SampleRecord[] = [];
    const curves: CurveRecord[] = [];
    const badLines: BadLine[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    const perRun: { name: string; rows: ReturnType<typeof capacityTable> }[] = [];
    for (const name of names) {
      const dir = this.runDir(name);
      const rs = readMergedJsonl(dir, 'samples.jsonl', SampleRecordSchema, (b) =>
        badLines.push({ ...b, file: `${name}/${b.file}` }),
      );
      if (rs.length === 0)
        throw new UnsafePathError(`run ${name} has no capacity records (samples.jsonl) to compare`, 400);
      perRun.push({ name, rows: capacityTable(rs) });
      for (const r of rs) {
        const k = [r.model, r.source, r.length, r.n_mem, r.sample_index, r.seed, r.ids_sha256].join('\u0000');
        if (seen.has(k)) {
          duplicates++;
          continue;
        }
        seen.add(k);
        records.push(r);
      }
      curves.push(...readMergedJsonl(dir, 'curves.jsonl', CurveRecordSchema));
    }
    const content = capacityReport({ records, curves, badLines, extraFigures: COMPARISON_FIGURES });
    const keyOf = (r: { model: string; source: string; n_mem: number }) =>
      `${r.model}\u0000${r.source}\u0000${r.n_mem}`;
    const keys = new Map<string, { model: string; source: string; n_mem: number }>();
    for (const p of perRun)
      for (const r of p.rows) keys.set(keyOf(r), { model: r.model, source: r.source, n_mem: r.n_mem });
    const side = [...keys.values()]
      .sort((a, b) => a.model.localeCompare(b.model) || a.source.localeCompare(b.source) || a.n_mem - b.n_mem)
      .map((k) => ({
        ...k,
        capacity: perRun.map((p) => {
          const row = p.rows.find((r) => keyOf(r) === keyOf(k));
          return row ? { capacity: row.capacity, texts: row.n_samples, token_gain: row.token_gain_mean } : null;
        }),
      }));
    return {
      runs: names,
      duplicates,
      side_by_side: side,
      summary: content.summary,
      notes: content.notes ?? [],
      sections: content.sections.map((s) => ({ title: s.title, html: sectionHtml(s.markdown) })),
      figures: content.figures.map(figureView),
    };
  }
}

export interface CompareView {
  runs: string[];
  duplicates: number;
  side_by_side: {
    model: string;
    source: string;
    n_mem: number;
    capacity: ({ capacity: number | null; texts: number; token_gain: number | null } | null)[];
  }[];
  summary: string[];
  notes: string[];
  sections: { title: string; html: string }[];
  figures: FigureView[];
}

function figureView(f: FigureEntry): FigureView {
  return {
    name: f.name,
    title: f.title,
    caption: f.caption,
    ...(f.spec ? { spec: interactiveFigure(f.spec) } : { skipped: f.skipped ?? 'no data' }),
  };
}

/** Record files of every kind (for change stamps). */
function recordFiles(): string[] {
  return [...new Set(KIND_NAMES.map((k) => experimentKind(k).recordFile))];
}

export function passes(filter: Filter): (r: Row) => boolean {
  return (r) =>
    (!filter.model?.length || r.model === undefined || filter.model.includes(String(r.model))) &&
    (!filter.source?.length || r.source === undefined || filter.source.includes(String(r.source))) &&
    (!filter.n_mem?.length || r.n_mem === undefined || filter.n_mem.includes(Number(r.n_mem)));
}

/** Items per second of the last session, from its start line and its last heartbeat's record count. */
export function sessionRate(lines: readonly SessionLine[]): number | null {
  const withId = lines.filter((l) => l.session !== undefined);
  const last = withId[withId.length - 1]?.session;
  if (!last) return null;
  const mine = withId.filter((l) => l.session === last);
  const start = mine.find((l) => l.event === 'start');
  const beat = [...mine].reverse().find((l) => typeof l.records === 'number');
  if (!start?.at || !beat?.at || !beat.records) return null;
  const s = (Date.parse(beat.at) - Date.parse(start.at)) / 1000;
  return s > 0 ? beat.records / s : null;
}

/** Safetensors metadata (the JSON header only; the tensor data is not read). */
export function vectorMetadata(path: string): Record<string, string> {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) return {};
    const n = Number(head.readBigUInt64LE(0));
    if (!Number.isSafeInteger(n) || n <= 0 || n > 64 * 1024 * 1024) return {};
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    const j = JSON.parse(buf.toString('utf8')) as { __metadata__?: Record<string, string> };
    return j.__metadata__ ?? {};
  } catch {
    return {};
  } finally {
    closeSync(fd);
  }
}

function parseIds(s: string | undefined): number[] | null {
  if (typeof s !== 'string' || !/^\d+(,\d+)*$/.test(s)) return null;
  return s.split(',').map(Number);
}

/** Each token's text: the decoded prefix's growth, so multi-byte characters split over tokens still show. */
function pieces(tok: TextTokenizer, ids: number[]): { id: number; text: string }[] {
  if (ids.length > 4096) return ids.map((id) => ({ id, text: tok.decode([id]) }));
  const out: { id: number; text: string }[] = [];
  let prev = '';
  for (let i = 0; i < ids.length; i++) {
    const cur = tok.decode(ids.slice(0, i + 1));
    out.push({ id: ids[i], text: cur.startsWith(prev) ? cur.slice(prev.length) : tok.decode([ids[i]]) });
    prev = cur;
  }
  return out;
}

export { fmt };
