/**
 * Sliding-window layers with the key/value cache: decoding one token at a time past the window (the cache then holds
 * keys the window must hide, at an offset from the query) gives the logits of one uncached pass over the same prefix.
 * Every fixture whose config sets a sliding_window is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as OrtTypes from 'onnxruntime-node';
import { readConfigJson } from '../../src/models/load.ts';
import { compiled, hfFixture, hfFixtures } from '../helpers.ts';

const WINDOWED = hfFixtures().filter(
  (n) => typeof readConfigJson(hfFixture(`${n}/config.json`)).sliding_window === 'number',
);

test('there are sliding-window fixtures to check', () => assert.ok(WINDOWED.length > 0));

for (const rel of WINDOWED) {
  test(`cached decoding past the sliding window equals the uncached pass: ${rel}`, async () => {
    const window = readConfigJson(hfFixture(`${rel}/config.json`)).sliding_window as number;
    const engine = await compiled(hfFixture(rel));
    try {
      const { session, carried } = await engine.decoder();
      const ort = engine.runtime.ort;
      const d = engine.embedDim;
      const n = window * 2 + 5;
      const ids = Array.from({ length: n }, (_, i) => (i * 37 + 11) % Math.min(500, engine.model.numEmbeddings));
      const emptyCaches = () =>
        new Map<string, OrtTypes.Tensor>(
          carried.map((c) => [
            c.name,
            new ort.Tensor(
              'float32',
              new Float32Array(0),
              c.dims.map((x, i) => (i === 0 ? 1 : typeof x === 'number' ? x : 0)),
            ),
          ]),
        );
      const call = async (tokens: number[], past: number, caches: Map<string, OrtTypes.Tensor>) => {
        const feeds: Record<string, OrtTypes.Tensor> = {
          prefix: new ort.Tensor('float32', new Float32Array(0), [1, 0, d]),
          ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]),
          past_length: new ort.Tensor('int64', BigInt64Array.from([BigInt(past)]), [1]),
        };
        for (const c of carried) feeds[`past.${c.name}`] = caches.get(c.name)!;
        const r = await session.run(feeds);
        return {
          logits: Float32Array.from(r.logits.data as Float32Array),
          present: new Map(carried.map((c) => [c.name, r[`present.${c.name}`]])),
        };
      };
      // Per-token cross-entropy of the same ids from the objective graph (no cache, checked against Hugging Face).
      const reference = (await engine.objective(0, null, [ids], false)).tokenCe;
      let caches = emptyCaches();
      let worst = 0;
      for (let t = 0; t < n - 1; t++) {
        const step = await call([ids[t]], t, caches);
        caches = step.present;
        // The incremental step's logits → CE of the next token; and, past the window, the uncached decode of the prefix.
        const mx = Math.max(...step.logits);
        const ce = Math.log(step.logits.reduce((s, v) => s + Math.exp(v - mx), 0)) + mx - step.logits[ids[t + 1]];
        worst = Math.max(worst, Math.abs(ce - reference[t]));
        if (t < window || t % 4 !== 0) continue;
        const full = await call(ids.slice(0, t + 1), 0, emptyCaches());
        for (let v = 0; v < full.logits.length; v++) worst = Math.max(worst, Math.abs(full.logits[v] - step.logits[v]));
      }
      assert.ok(
        worst < 1e-4,
        `largest difference (logits, per-token CE) between cached and uncached decoding: ${worst}`,
      );
    } finally {
      await engine.release();
    }
  });
}
