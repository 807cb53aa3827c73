#!/usr/bin/env bash
# Measures a run split into N local shards against the same run in one process (docs/scale-out.md):
#   bash scripts/measure-shards.sh [config (default configs/quick.yaml)] [N (default 2)] [work folder (default /tmp/cram-measure-shards)]
# One process with CRAM_THREADS=N, then N processes (--shard i/N) side by side with CRAM_THREADS=1 each (SHARDS_FIRST=1:
# the other way round); prints both
# wall times, the machine's load while they ran, how the work was split (expected cost, items, steps × positions
# actually run, wall time per shard), and how the merged records compare with the single run's.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="${1:-configs/quick.yaml}"
N="${2:-2}"
WORK="${3:-/tmp/cram-measure-shards}"
rm -rf "$WORK" && mkdir -p "$WORK"
for which in single sharded; do
  node --input-type=module -e "
    import { readFileSync, writeFileSync } from 'node:fs';
    import YAML from 'yaml';
    const c = YAML.parse(readFileSync('$CONFIG', 'utf8'));
    writeFileSync('$WORK/$which.yaml', YAML.stringify({ ...c, output_dir: '$WORK/$which' }));"
done
NAME="$(node --input-type=module -e "import YAML from 'yaml'; import { readFileSync } from 'node:fs'; process.stdout.write(YAML.parse(readFileSync('$CONFIG', 'utf8')).name)")"

# The machine's 1-minute load average every 5 s while the runs go on (the machine may be shared).
( while true; do echo "$(date +%s) $(cut -d' ' -f1 /proc/loadavg)"; sleep 5; done ) > "$WORK/load.txt" &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null || true' EXIT

single() {
  local t0 t1
  t0=$(date +%s.%N)
  CRAM_THREADS=$N node --import tsx src/cli/main.ts experiment "$WORK/single.yaml" --quiet 2> "$WORK/single.log"
  t1=$(date +%s.%N)
  echo "$t0 $t1" > "$WORK/single.time"
}
sharded() {
  local t0 t1 p PIDS=()
  t0=$(date +%s.%N)
  for i in $(seq 0 $((N - 1))); do
    ( s=$(date +%s.%N); CRAM_THREADS=1 node --import tsx src/cli/main.ts experiment "$WORK/sharded.yaml" --shard "$i/$N" --quiet 2> "$WORK/shard$i.log"; e=$(date +%s.%N); echo "$s $e" > "$WORK/shard$i.time" ) &
    PIDS+=($!)
  done
  for p in "${PIDS[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  echo "$t0 $t1" > "$WORK/sharded.time"
}
# SHARDS_FIRST=1 runs the shards first (on a shared machine the load changes: measure both orders).
if [ "${SHARDS_FIRST:-0}" = 1 ]; then sharded; single; else single; sharded; fi
kill $SAMPLER 2>/dev/null || true

node --import tsx --input-type=module -e "
  import { readFileSync } from 'node:fs';
  import { diffRecords, formatDiff, runRecords } from './scripts/compare-records.ts';
  const W = '$WORK', N = $N, run = '$NAME';
  const span = (f) => { const [a, b] = readFileSync(W + '/' + f, 'utf8').trim().split(' ').map(Number); return [a, b]; };
  const load = readFileSync(W + '/load.txt', 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
  const loadIn = ([a, b]) => { const xs = load.filter(([t]) => t >= a && t <= b).map(([, l]) => l); return xs.length ? (xs.reduce((x, y) => x + y, 0) / xs.length).toFixed(1) + ' (' + Math.min(...xs).toFixed(1) + '–' + Math.max(...xs).toFixed(1) + ')' : '?'; };
  const s = span('single.time'), p = span('sharded.time');
  console.log('machine: ' + (await import('node:os')).cpus().length + ' cores');
  console.log('one process (CRAM_THREADS=' + N + '): ' + (s[1] - s[0]).toFixed(1) + ' s, load average ' + loadIn(s));
  console.log(N + ' shards side by side (CRAM_THREADS=1 each): ' + (p[1] - p[0]).toFixed(1) + ' s, load average ' + loadIn(p));
  const split = JSON.parse(readFileSync(W + '/sharded/' + run + '/shards.json', 'utf8'));
  const total = split.shards.reduce((a, x) => a + x.cost, 0);
  const work = (recs) => recs.reduce((a, r) => a + r.steps * (r.n_mem + r.n_tokens), 0);
  const steps = (recs) => recs.reduce((a, r) => a + r.steps, 0);
  const lines = (f) => { try { return readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return []; } };
  const per = split.shards.map((x, i) => ({ i, x, recs: lines(W + '/sharded/' + run + '/shards/' + i + '/samples.jsonl'), t: span('shard' + i + '.time') }));
  const allWork = per.reduce((a, q) => a + work(q.recs), 0);
  for (const q of per) {
    console.log('  shard ' + q.i + ': ' + q.x.items + ' items, expected cost ' + (100 * q.x.cost / total).toFixed(1) + ' %, steps × positions run ' + (100 * work(q.recs) / allWork).toFixed(1) + ' % (' + steps(q.recs) + ' steps), wall ' + (q.t[1] - q.t[0]).toFixed(1) + ' s');
  }
  const a = runRecords(W + '/single/' + run), b = runRecords(W + '/sharded/' + run);
  process.stdout.write(formatDiff(diffRecords(a.records, b.records, a.key), 'one process', N + ' shards'));
"
