/**
 * Measures the memory service (`cram serve` as a child process on loopback, gutenberg-llama-s, default compression
 * settings unless given):
 *   1. latency of a compress job on the 300-token held-out passage (POST → status done), and of GET …/text;
 *   2. requests/s of GET /v1/memories/:id (keep-alive, `--concurrency` connections, `--seconds` each), with the
 *      server idle and while it is compressing;
 *   3. the server's RSS while it runs `--jobs` short jobs (posted in waves), sampled after each wave;
 *   4. the compression table (text, .mem, gzip, brotli, model code length) for the 300-token text and the whole passage.
 * Writes bench/results/serve-<date>.json and prints a summary. The machine's load average is recorded at every phase.
 *
 *   npx tsx bench/serve.ts [--jobs 200] [--wave 20] [--seconds 10] [--concurrency 8] [--skip-whole] [--rss-only] [--label name]
 *
 * `--recall` measures instead whether a memory can be used in a prompt: held-out paragraphs (`--paragraphs` of
 * `--min-tokens`–`--max-tokens` tokens, from data/gutenberg/heldout-chunks.jsonl, one per book) are stored as memories;
 * then for each, greedy continuation of (a) `[mem-id-N]` + the paragraph's first `--head-words` words, (b) a preceding
 * sentence + the same, (c) the paragraph itself, a newline, the same first words, (d) the first words alone, is
 * compared with the paragraph's true next `--next-words` words (exact words in order from the first; a refusal is
 * counted as such). `--buckets 50-80,140-180,280-320` takes `--paragraphs` per length bucket instead (each book used
 * once). All memories are posted at once (they share the server's batches). Writes
 * bench/results/serve-recall-<date>[-label].json and prints a markdown table per bucket.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/models/load.ts';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '200' },
    wave: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    'skip-whole': { type: 'boolean', default: false },
    'rss-only': { type: 'boolean', default: false },
    label: { type: 'string', default: '' },
    recall: { type: 'boolean', default: false },
    paragraphs: { type: 'string', default: '8' },
    buckets: { type: 'string' },
    store: { type: 'string' },
    reuse: { type: 'boolean', default: false },
    until: { type: 'string' },
    attach: { type: 'string' },
    'min-tokens': { type: 'string', default: '50' },
    'max-tokens': { type: 'string', default: '300' },
    'head-words': { type: 'string', default: '5' },
    'next-words': { type: 'string', default: '10' },
    model: { type: 'string', default: 'gutenberg-llama-s' },
  },
});
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cram-serve-bench-'));
const recallStart = performance.now();
const load = () => loadavg().map((x) => Number(x.toFixed(2)));
const log = (s: string) => process.stderr.write(`${s}\n`);

// --attach <url>: use a server that is already running (e.g. another bench's, to collect its results by a deadline).
const proc = args.attach
  ? null
  : spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'serve',
        '--model',
        args.model!,
        '--port',
        '0',
        '--store',
        args.store ?? join(dir, 's.db'),
        '--backend',
        'cpu',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
process.on('exit', () => proc?.kill('SIGKILL'));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const base: string =
  args.attach ??
  JSON.parse(await new Promise<string>((resolve) => createInterface({ input: proc!.stdout! }).once('line', resolve)))
    .listening;
const url = new URL(base);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const t = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode!, json: t ? JSON.parse(t) : null });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function untilDone(id: string, until = Infinity): Promise<any> {
  for (;;) {
    const r = await call('GET', `/v1/memories/${id}`);
    if (r.json.status === 'done' || r.json.status === 'failed' || Date.now() >= until) return r.json;
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function compressOne(text: string) {
  const t0 = performance.now();
  const p = await call('POST', '/v1/memories', { text });
  if (p.status !== 202) throw new Error(JSON.stringify(p.json));
  const done = await untilDone(p.json.id);
  const latency = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const back = await call('GET', `/v1/memories/${p.json.id}/text`);
  const textSeconds = (performance.now() - t1) / 1000;
  if (back.json.text !== text) throw new Error(`${p.json.id} did not come back exactly`);
  return {
    id: p.json.id as string,
    latency_s: Number(latency.toFixed(2)),
    text_s: Number(textSeconds.toFixed(2)),
    status: done.status,
    stats: done.stats,
  };
}

async function rps(path: string, seconds: number, concurrency: number) {
  let n = 0;
  let errors = 0;
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const r = await call('GET', path);
        lat.push(performance.now() - t);
        if (r.status === 200) n++;
        else errors++;
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const q = (p: number) => Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2));
  return {
    requests_per_s: Math.round(n / seconds),
    ok: n,
    errors,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    concurrency,
    seconds,
  };
}

const tok = (await loadModel(args.model!)).tokenizer!;
const passage = readFileSync(join(ROOT, 'test/fixtures/heldout-passage.txt'), 'utf8');
const text300 = tok.decode(tok.encode(passage).slice(0, 301));
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  cpu: `${cpus().length}× ${cpus()[0].model}`,
  node: process.version,
  load_at_start: load(),
};

if (args.recall) {
  await recall();
  proc?.kill('SIGTERM');
  process.exit(0);
}

/** Held-out paragraphs: whole sentences from the start of each book's chunk, within the token range, round-tripping. */
function paragraphs(
  count: number,
  min: number,
  max: number,
  skip: Set<string> = new Set(),
): { text: string; before: string; book: string }[] {
  const out: { text: string; before: string; book: string }[] = [];
  const tokens = (t: string) => tok.encode(t).length - 1;
  for (const line of readFileSync(join(ROOT, 'data/gutenberg/heldout-chunks.jsonl'), 'utf8').split('\n')) {
    if (out.length >= count || line.trim() === '') continue;
    const book = JSON.parse(line) as { id: string; text: string };
    if (skip.has(book.id)) continue;
    const sentences = book.text.replace(/\s+/g, ' ').match(/[^.!?]+[.!?]+["')\]]*\s*/g) ?? [];
    // Skip the first sentence (it becomes the "preceding sentence"), then take sentences until min tokens.
    let cur = '';
    for (const s of sentences.slice(1)) {
      cur += s;
      const n = tokens(cur.trim());
      if (n > max) break;
      if (n >= min) {
        const text = cur.trim();
        if (tok.decode(tok.encode(text)) === text)
          out.push({ text, before: (sentences[0] ?? '').trim(), book: book.id });
        break;
      }
    }
  }
  return out;
}

async function recall(): Promise<void> {
  const head = Number(args['head-words']);
  const next = Number(args['next-words']);
  const buckets = args.buckets
    ? args.buckets.split(',').map((b) => b.split('-').map(Number) as [number, number])
    : [[Number(args['min-tokens']), Number(args['max-tokens'])] as [number, number]];
  const count = Number(args.paragraphs);
  // Every bucket's paragraphs, from different books where the chunks allow (a book used once is not used again).
  const used = new Set<string>();
  const paras = buckets.flatMap(([min, max]) => {
    const ps = paragraphs(count, min, max, used);
    for (const p of ps) used.add(p.book);
    return ps.map((p) => ({ ...p, bucket: `${min}–${max}` }));
  });
  log(
    `recall: ${paras.length} held-out paragraphs (${buckets.map((b) => b.join('–')).join(', ')} tokens), ` +
      `${args.model}`,
  );
  const layouts = ['placeholder first', 'placeholder after a sentence', 'the text itself', 'nothing'] as const;
  // All posted at once, as an agent storing several memories would: they share the server's batches. With --reuse
  // (a rerun on the --store of an interrupted run), memories 1…N are these paragraphs: they resume, none is posted.
  const t0 = performance.now();
  const posted = [];
  for (const [i, p] of paras.entries()) {
    if (!args.reuse) posted.push((await call('POST', '/v1/memories', { text: p.text })).json);
    else {
      const m = (await call('GET', `/v1/memories/mem-id-${i + 1}`)).json;
      if (m.tokens !== tok.encode(p.text).length - 1)
        throw new Error(`--reuse: mem-id-${i + 1} is not paragraph ${i + 1}`);
      posted.push(m);
    }
  }
  // --until: stop waiting then (ISO time, or HH:MM UTC today); unfinished memories are recorded as they stand.
  const until = args.until
    ? Date.parse(
        /^\d\d:\d\d$/.test(args.until) ? `${new Date().toISOString().slice(0, 10)}T${args.until}:00Z` : args.until,
      )
    : Infinity;
  const rows: Record<string, unknown>[] = [];
  for (const [i, p] of paras.entries()) {
    const done = await untilDone(posted[i].id, until);
    const row: Record<string, unknown> = {
      bucket: p.bucket,
      book: p.book,
      tokens: posted[i].tokens,
      status: done.status,
      one_sequence: done.status === 'done' && done.stats?.layout !== 'segments',
      done_after_s: Number(((performance.now() - t0) / 1000).toFixed(1)),
      compress_seconds: done.stats?.compress_seconds ?? null,
      vectors: done.stats?.vectors ?? null,
      rounds: done.stats?.rounds ?? null,
      batched_steps: done.stats?.batched_steps ?? null,
      error: done.error ?? done.stats?.one_sequence_error ?? null,
      runs: done.runs,
    };
    // Not finished by --until: recorded as it stands (its progress); only the prompts without the memory are run.
    if (done.status !== 'done' && done.status !== 'failed') {
      row.status = `${done.status} at the deadline`;
      row.progress = done.progress ?? null;
    }
    log(
      `  ${i + 1}/${paras.length} ${p.book}: ${posted[i].tokens} tokens → ${done.status}` +
        `${row.one_sequence ? '' : ' (not one sequence)'} (${row.compress_seconds} s, ${row.vectors} vectors)`,
    );
    const words = p.text.split(' ');
    const first = words.slice(0, head).join(' ');
    const want = words.slice(head, head + next);
    const prompts: Record<(typeof layouts)[number], string> = {
      'placeholder first': `[${posted[i].id}]${first}`,
      'placeholder after a sentence': `${p.before} [${posted[i].id}]${first}`,
      'the text itself': `${p.text}\n${first}`,
      nothing: first,
    };
    for (const l of layouts) {
      if (done.status !== 'done' && l.startsWith('placeholder')) {
        row[l] = { status: done.status === 'failed' ? 'memory failed' : 'memory not finished' };
        continue;
      }
      // Enough new tokens for the words wanted, whatever the tokenizer's granularity.
      const maxTokens = tok.encode(` ${want.join(' ')}`).length + 8;
      const g = await call('POST', '/v1/generate', { prompt: prompts[l], max_tokens: maxTokens });
      if (g.status !== 200) {
        row[l] = { status: g.status, code: g.json.error.code, message: g.json.error.message };
        continue;
      }
      const got = (g.json.text as string).trimStart().split(/\s+/).slice(0, next);
      let k = 0;
      while (k < want.length && got[k] === want[k]) k++;
      row[l] = { matched_words: k, of: want.length, continuation: g.json.text };
    }
    rows.push(row);
    write(rows, true);
  }
  write(rows, false);
}

/** Writes the recall results so far (partial: more paragraphs to come) and, at the end, prints the table. */
function write(rows: Record<string, unknown>[], partial: boolean): void {
  const head = Number(args['head-words']);
  const next = Number(args['next-words']);
  const buckets = args.buckets
    ? args.buckets.split(',').map((b) => b.split('-').map(Number) as [number, number])
    : [[Number(args['min-tokens']), Number(args['max-tokens'])] as [number, number]];
  const layouts = ['placeholder first', 'placeholder after a sentence', 'the text itself', 'nothing'] as const;
  // Per length bucket: compressed exactly as one sequence, vectors, seconds, exact next words per layout, refusals.
  const table = buckets.map(([min, max]) => {
    const b = `${min}–${max}`;
    const rs = rows.filter((r) => r.bucket === b);
    const nums = (k: string) => rs.map((r) => r[k]).filter((v): v is number => typeof v === 'number');
    const range = (xs: number[]) => (xs.length ? `${Math.min(...xs)}–${Math.max(...xs)}` : '–');
    const layout = (l: string) => {
      const rl = rs.map((r) => (r[l] ?? {}) as { matched_words?: number; of?: number; status?: unknown });
      const answered = rl.filter((x) => x.matched_words !== undefined);
      return {
        exact: `${answered.filter((x) => x.matched_words === x.of).length}/${answered.length}`,
        mean_fraction: answered.length
          ? Number((answered.reduce((a, x) => a + x.matched_words! / x.of!, 0) / answered.length).toFixed(3))
          : null,
        refused: rl.filter((x) => x.status === 422).length,
        not_available: rl.filter((x) => x.matched_words === undefined && x.status !== 422).length,
      };
    };
    return {
      bucket: b,
      paragraphs: rs.length,
      tokens: range(nums('tokens')),
      compressed_one_sequence: `${rs.filter((r) => r.one_sequence).length}/${rs.length}`,
      stored_in_segments: rs.filter((r) => r.status === 'done' && !r.one_sequence).length,
      failed: rs.filter((r) => r.status === 'failed').length,
      unfinished: rs.filter((r) => String(r.status).endsWith('at the deadline')).length,
      vectors: range(nums('vectors')),
      compress_seconds: range(nums('compress_seconds')),
      layouts: Object.fromEntries(layouts.map((l) => [l, layout(l)])),
    };
  });
  const out = join(
    ROOT,
    'bench/results',
    `serve-recall-${new Date().toISOString().slice(0, 10)}${args.label ? `-${args.label}` : ''}.json`,
  );
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        ...result,
        model: args.model,
        server_defaults: true,
        head_words: head,
        next_words: next,
        load_at_end: load(),
        seconds: Number(((performance.now() - recallStart) / 1000).toFixed(1)),
        partial,
        table,
        paragraphs: rows,
      },
      null,
      1,
    ) + '\n',
  );
  if (partial) return;
  console.log(
    `| model | tokens | one sequence | vectors | s | (a) memory first | (b) after a sentence | (c) text | ` +
      `(d) nothing |\n` +
      '|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of table) {
    const L = r.layouts;
    console.log(
      `| ${args.model} | ${r.tokens} | ${r.compressed_one_sequence} | ${r.vectors} | ${r.compress_seconds} | ` +
        `${L['placeholder first'].exact} | refused ${L['placeholder after a sentence'].refused} | ` +
        `${L['the text itself'].exact} | ${L.nothing.exact} |`,
    );
  }
  log(`written ${out}`);
}

let one: Awaited<ReturnType<typeof compressOne>> | null = null;
if (!args['rss-only']) {
  log('1. compress job on the 300-token passage …');
  one = await compressOne(text300);
  result.compress_300 = { ...one, load: load() };
  log(`   ${one.latency_s} s (POST → done), GET text ${one.text_s} s`);

  log('2. GET /v1/memories/:id requests/s …');
  const seconds = Number(args.seconds);
  const conc = Number(args.concurrency);
  await rps(`/v1/memories/${one.id}`, 1, conc); // warm-up
  const idle = await rps(`/v1/memories/${one.id}`, seconds, conc);
  log(`   idle: ${idle.requests_per_s}/s (p50 ${idle.p50_ms} ms, p99 ${idle.p99_ms} ms)`);
  const busyJob = await call('POST', '/v1/memories', { text: text300 });
  await new Promise((r) => setTimeout(r, 1500));
  const busy = await rps(`/v1/memories/${one.id}`, seconds, conc);
  log(`   while compressing: ${busy.requests_per_s}/s (p50 ${busy.p50_ms} ms, p99 ${busy.p99_ms} ms)`);
  await untilDone(busyJob.json.id);
  result.get_rps = { idle: { ...idle, load: load() }, while_compressing: { ...busy, load: load() } };
}

log(`3. RSS over ${args.jobs} jobs …`);
const jobs = Number(args.jobs);
const wave = Number(args.wave);
// Short texts (10 words) from the passage, each one the tokenizer round-trips.
const words = passage.split(' ');
const pieces = Array.from({ length: 60 }, (_, i) =>
  words.slice((i * 9) % (words.length - 10), ((i * 9) % (words.length - 10)) + 10).join(' '),
).filter((s) => tok.decode(tok.encode(s)) === s);
const health = async () => (await call('GET', '/v1/health')).json;
const curve: {
  jobs_done: number;
  rss_mib: number;
  heap_mib: number;
  worker_heap_mib: number | null;
  seconds: number;
  load1: number;
}[] = [];
const t0 = performance.now();
const mib = (x: number | null | undefined) => (x == null ? null : Number((x / 2 ** 20).toFixed(1)));
const point = (h: any, jobsDone: number) => ({
  jobs_done: jobsDone,
  rss_mib: mib(h.rss_bytes)!,
  heap_mib: mib(h.memory?.heap_used_bytes)!,
  worker_heap_mib: mib(h.memory?.worker_heap_used_bytes),
  seconds: Math.round((performance.now() - t0) / 1000),
  load1: load()[0],
});
curve.push(point(await health(), 0));
let failed = 0;
for (let doneJobs = 0; doneJobs < jobs;) {
  const batch = Array.from(
    { length: Math.min(wave, jobs - doneJobs) },
    (_, i) => pieces[(doneJobs + i) % pieces.length],
  );
  const ids = await Promise.all(
    batch.map(async (text) => (await call('POST', '/v1/memories', { text })).json.id as string),
  );
  for (const id of ids) if ((await untilDone(id)).status !== 'done') failed++;
  doneJobs += batch.length;
  const h = await health();
  curve.push(point(h, doneJobs));
  const c = curve[curve.length - 1];
  log(
    `   ${doneJobs} jobs: RSS ${c.rss_mib} MiB, heaps ${c.heap_mib} + ${c.worker_heap_mib} MiB (${c.seconds} s, load ${c.load1})`,
  );
}
result.rss_curve = { jobs, wave, failed, curve };

if (!args['rss-only']) {
  log('4. compression table …');
  const table: Record<string, unknown>[] = [{ text: 'held-out passage, first 300 tokens', ...one!.stats }];
  if (!args['skip-whole']) {
    const whole = await compressOne(passage);
    table.push({ text: 'whole held-out passage', ...whole.stats, latency_s: whole.latency_s });
    log(`   whole passage: ${whole.latency_s} s`);
  }
  result.compression = table;
}
result.load_at_end = load();

proc?.kill('SIGTERM');
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const out = join(
  ROOT,
  'bench/results',
  `serve-${new Date().toISOString().slice(0, 10)}${args['rss-only'] ? '-rss' : ''}${args.label ? `-${args.label}` : ''}.json`,
);
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
rmSync(dir, { recursive: true, force: true });
log(`written ${out}`);
process.stdout.write(JSON.stringify(result) + '\n');
agent.destroy();
