/**
 * Decoding time, one forward pass vs greedy regeneration: the wall time at batch 1 to produce n tokens by
 * one-step generation (one pass of [e, m × (n−1)], argmax everywhere: src/cram/objective.ts, buildOneStepDecodeGraph)
 * and by greedy decoding with the key/value cache from [K vectors, first token] (src/cram/generate.ts). The cost does
 * not depend on the vectors' values, so fixed vectors are used and every token is generated. Fastest and median of
 * `--repeats` runs after two warm-ups; the fastest is the cost without interference from other work on the machine.
 * Not a test: it prints numbers and the machine they came from (and writes bench/results/ unless --no-save).
 *
 *   npx tsx bench/one-step-decode.ts [--model gutenberg-llama-s --lengths 4,8,16,32,64,128,256,512 --mem 1 --repeats 15]
 */
import { Command } from 'commander';
import type { BackendChoice } from '../src/engine/backends.ts';
import { openModel } from '../src/cram/compiled-model.ts';
import { greedyGenerate } from '../src/cram/generate.ts';
import { numberList, saveResults, withCommonOptions } from './common.ts';

const opts = withCommonOptions(
  new Command()
    .option('--model <name>', 'bundled name or model folder', 'gutenberg-llama-s')
    .option('--lengths <list>', 'tokens produced per decode', '4,8,16,32,64,128,256,512')
    .option('--mem <k>', 'vectors in front of the first token for greedy decoding', '1')
    .option('--repeats <n>', 'timed runs per point (after two warm-ups)', '15'),
)
  .parse()
  .opts();

const { compiled, name } = await openModel(String(opts.model), {
  backend: opts.backend as BackendChoice,
  tokenizer: false,
});
const d = compiled.embedDim;
const K = Number(opts.mem);
const repeats = Number(opts.repeats);
const e = new Float32Array(d).fill(0.01);
const m = new Float32Array(d).fill(0.02);
const vectors = new Float32Array(K * d).fill(0.03);

async function time(fn: () => Promise<unknown>, runs: number): Promise<{ min: number; median: number }> {
  await fn();
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return {
    min: ms[0],
    median: ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2,
  };
}

const rows: Record<string, number | string>[] = [];
for (const n of numberList(opts.lengths)) {
  if (K + 1 + n > compiled.model.maxPositions) break;
  const one = await time(() => compiled.oneStepDecode(e, m, n), repeats);
  const greedy = await time(
    () => greedyGenerate(compiled, { parts: [{ vectors }, { ids: [0] }], maxNew: n }),
    Math.max(3, Math.min(repeats, Math.ceil(2000 / n))),
  );
  const row = {
    model: name,
    backend: compiled.runtime.name,
    tokens: n,
    onepass_min_ms: +one.min.toFixed(3),
    onepass_median_ms: +one.median.toFixed(3),
    greedy_min_ms: +greedy.min.toFixed(2),
    greedy_median_ms: +greedy.median.toFixed(2),
    speedup: +(greedy.min / one.min).toFixed(1),
  };
  rows.push(row);
  if (opts.json) console.log(JSON.stringify(row));
  else
    console.log(
      `${String(n).padStart(5)} tokens  one pass ${row.onepass_min_ms.toFixed(2).padStart(8)} ms (median ${row.onepass_median_ms.toFixed(2)})  greedy ${row.greedy_min_ms.toFixed(1).padStart(8)} ms (median ${row.greedy_median_ms.toFixed(1)})  speed-up ${row.speedup}×`,
    );
}
if (opts.save) {
  const file = saveResults(`one-step-decode-${name}-${compiled.runtime.name}`, rows);
  if (!opts.json) console.log(`written: ${file}`);
}
await compiled.release();
