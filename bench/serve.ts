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
 * counted as such). Writes bench/results/serve-recall-<date>.json and prints a markdown table.
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
    'min-tokens': { type: 'string', default: '50' },
    'max-tokens': { type: 'string', default: '300' },
    'head-words': { type: 'string', default: '5' },
    'next-words': { type: 'string', default: '10' },
    model: { type: 'string', default: 'gutenberg-llama-s' },
  },
});
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cram-serve-bench-'));
const load = () => loadavg().map((x) => Number(x.toFixed(2)));
const log = (s: string) => process.stderr.write(`${s}\n`);

const proc = spawn(
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
    join(dir, 's.db'),
    '--backend',
    'cpu',
  ],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
);
process.on('exit', () => proc.kill('SIGKILL'));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const base: string = JSON.parse(
  await new Promise<string>((resolve) => createInterface({ input: proc.stdout! }).once('line', resolve)),
).listening;
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

async function untilDone(id: string): Promise<any> {
  for (;;) {
    const r = await call('GET', `/v1/memories/${id}`);
    if (r.json.status === 'done' || r.json.status === 'failed') return r.json;
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
  proc.kill('SIGTERM');
  process.exit(0);
}

/** Held-out paragraphs: whole sentences from the start of each book's chunk, within the token range, round-tripping. */
function paragraphs(count: number, min: number, max: number): { text: string; before: string; book: string }[] {
  const out: { text: string; before: string; book: string }[] = [];
  const tokens = (t: string) => tok.encode(t).length - 1;
  for (const line of readFileSync(join(ROOT, 'data/gutenberg/heldout-chunks.jsonl'), 'utf8').split('\n')) {
    if (out.length >= count || line.trim() === '') continue;
    const book = JSON.parse(line) as { id: string; text: string };
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
  const paras = paragraphs(Number(args.paragraphs), Number(args['min-tokens']), Number(args['max-tokens']));
  log(
    `recall: ${paras.length} held-out paragraphs of ${args['min-tokens']}–${args['max-tokens']} tokens, ${args.model}`,
  );
  const layouts = ['placeholder first', 'placeholder after a sentence', 'the text itself', 'nothing'] as const;
  const rows: Record<string, unknown>[] = [];
  const score = new Map<string, { words: number; exact: number; refused: number; n: number }>(
    layouts.map((l) => [l, { words: 0, exact: 0, refused: 0, n: 0 }]),
  );
  for (const [i, p] of paras.entries()) {
    const t0 = performance.now();
    const posted = await call('POST', '/v1/memories', { text: p.text });
    const done = await untilDone(posted.json.id);
    const row: Record<string, unknown> = {
      book: p.book,
      tokens: posted.json.tokens,
      status: done.status,
      compress_s: Number(((performance.now() - t0) / 1000).toFixed(1)),
      vectors: done.stats?.vectors ?? null,
      rounds: done.stats?.rounds ?? null,
      error: done.error ?? null,
    };
    log(
      `  ${i + 1}/${paras.length} ${p.book}: ${posted.json.tokens} tokens → ${done.status} (${row.compress_s} s, ${row.vectors} vectors)`,
    );
    const words = p.text.split(' ');
    const first = words.slice(0, head).join(' ');
    const want = words.slice(head, head + next);
    const prompts: Record<(typeof layouts)[number], string> = {
      'placeholder first': `[${posted.json.id}]${first}`,
      'placeholder after a sentence': `${p.before} [${posted.json.id}]${first}`,
      'the text itself': `${p.text}\n${first}`,
      nothing: first,
    };
    for (const l of layouts) {
      if (done.status !== 'done' && l.startsWith('placeholder')) continue;
      const g = await call('POST', '/v1/generate', { prompt: prompts[l], max_tokens: next * 4 });
      const s = score.get(l)!;
      s.n++;
      if (g.status !== 200) {
        s.refused++;
        row[l] = { status: g.status, code: g.json.error.code };
        continue;
      }
      const got = (g.json.text as string).trimStart().split(/\s+/).slice(0, next);
      let k = 0;
      while (k < want.length && got[k] === want[k]) k++;
      s.words += k / want.length;
      if (k === want.length) s.exact++;
      row[l] = { matched_words: k, of: want.length, continuation: g.json.text };
    }
    rows.push(row);
  }
  const table = [...score].map(([l, s]) => ({
    layout: l,
    prompts: s.n,
    exact_next_words: s.n - s.refused ? `${s.exact}/${s.n - s.refused}` : '–',
    mean_fraction_of_next_words: s.n - s.refused ? Number((s.words / (s.n - s.refused)).toFixed(3)) : null,
    refused: s.refused,
  }));
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
        head_words: head,
        next_words: next,
        load_at_end: load(),
        table,
        paragraphs: rows,
      },
      null,
      1,
    ) + '\n',
  );
  console.log(
    `| layout | prompts | all ${next} next words exact | mean fraction of the next words | refused (422) |\n|---|---|---|---|---|`,
  );
  for (const r of table)
    console.log(
      `| ${r.layout} | ${r.prompts} | ${r.exact_next_words} | ${r.mean_fraction_of_next_words ?? '–'} | ${r.refused} |`,
    );
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

proc.kill('SIGTERM');
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
