/**
 * What the reference losses alone would not pin down for the olmo, olmo2, qwen2, qwen3, mistral, smollm3 and
 * Llama-3 fixtures: each fixture's Hugging Face ablations (a feature switched off by config or by zeroed weights,
 * recomputed by transformers, in reference.json; those made by scripts/make_reference.py carry their spec) are
 * reproduced here with the same change, so the feature's "on"
 * and "off" paths are both checked and the feature is shown to matter at the fixture's length; cached decoding
 * gives the teacher-forced objective's per-token cross-entropies (not only its argmax) past Mistral's sliding window; and the config readers
 * follow transformers where the fixtures do not reach (layer_types, use_sliding_window, max_window_layers,
 * no_rope_layers defaults).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as OrtTypes from 'onnxruntime-node';
import { readReference, verify } from '../../src/cram/verify.ts';
import { architectureFor } from '../../src/models/registry.ts';
import { ModelConfigError, type RawConfig } from '../../src/models/config.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/models/safetensors.ts';
import type { HostTensor } from '../../src/models/tensor-map.ts';
import { compiled, hfFixture, hfFixtures, open, relErr } from '../helpers.ts';

interface Ablation {
  fixture: string;
  name: string;
  config?: (raw: RawConfig) => void;
  zero?: RegExp;
}

const ABLATIONS: Ablation[] = [
  {
    fixture: 'tiny-olmo',
    name: 'clip_qkv_off',
    config: (c) => {
      c.clip_qkv = null;
    },
  },
  { fixture: 'tiny-qwen2', name: 'qkv_bias_zeroed', zero: /self_attn\.[qkv]_proj\.bias$/ },
  {
    fixture: 'tiny-mistral',
    name: 'sliding_window_off',
    config: (c) => {
      c.sliding_window = null;
    },
  },
  {
    fixture: 'tiny-smollm3',
    name: 'nope_off',
    config: (c) => {
      c.no_rope_layers = c.no_rope_layers.map(() => 1);
    },
  },
  {
    fixture: 'tiny-llama3-rope-bias',
    name: 'rope_default',
    config: (c) => {
      c.rope_parameters = { rope_type: 'default', rope_theta: c.rope_parameters.rope_theta };
    },
  },
  { fixture: 'tiny-llama3-rope-bias', name: 'attn_bias_zeroed', zero: /self_attn\.[qkvo]_proj\.bias$/ },
];

/**
 * Ablations stored with their spec by scripts/make_reference.py (`set:KEY=JSON;KEY=JSON` or `zero:REGEX`), in any
 * fixture of test/fixtures/hf/: replayed as they were made.
 */
const FROM_SPECS: Ablation[] = hfFixtures()
  .filter((n) => existsSync(hfFixture(`${n}/reference.json`)))
  .flatMap((name) => {
    const ref = readReference(hfFixture(`${name}/reference.json`));
    return Object.entries((ref.ablations ?? {}) as Record<string, { spec?: string }>)
      .filter(([, a]) => typeof a.spec === 'string')
      .map(([ablation, a]) => {
        const [kind, arg] = [a.spec!.slice(0, a.spec!.indexOf(':')), a.spec!.slice(a.spec!.indexOf(':') + 1)];
        if (kind === 'zero') return { fixture: name, name: ablation, zero: new RegExp(arg) };
        assert.equal(kind, 'set', `${name}: ablation ${ablation} has spec ${a.spec}`);
        const sets = arg
          .split(';')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), JSON.parse(kv.slice(kv.indexOf('=') + 1))] as const);
        return {
          fixture: name,
          name: ablation,
          config: (c: RawConfig) => {
            for (const [k, v] of sets) c[k] = v;
          },
        };
      });
  });

/** A temporary copy of a fixture with its config edited and/or some weights zeroed. */
function ablatedCopy(dir: string, a: Ablation): string {
  const out = mkdtempSync(join(tmpdir(), 'cram-ablation-'));
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  a.config?.(raw);
  writeFileSync(join(out, 'config.json'), JSON.stringify(raw));
  if (!a.zero) {
    copyFileSync(join(dir, 'model.safetensors'), join(out, 'model.safetensors'));
  } else {
    const { tensors } = parseSafetensors(readFileSync(join(dir, 'model.safetensors')));
    const kept: Record<string, HostTensor> = {};
    let zeroed = 0;
    for (const [key, t] of tensors) {
      const hit = a.zero.test(key);
      zeroed += hit ? 1 : 0;
      kept[key] = { shape: t.shape, data: hit ? new Float32Array(t.data.length) : t.data };
    }
    assert.ok(zeroed > 0, `${a.name}: no weight matches ${a.zero}`);
    writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(kept));
  }
  return out;
}

for (const a of [...ABLATIONS, ...FROM_SPECS]) {
  test(`Hugging Face ablation reproduced: ${a.fixture} ${a.name}`, async () => {
    const dir = hfFixture(a.fixture);
    const ref = readReference(join(dir, 'reference.json'));
    const expected = (ref.ablations as Record<string, { loss_with_mem: number; loss_no_mem: number }>)[a.name];
    assert.ok(expected, `${a.fixture}/reference.json has no ablation ${a.name}`);
    const copy = ablatedCopy(dir, a);
    const loaded = await open(copy, { tokenizer: false });
    try {
      const r = await verify(loaded, loaded.compiled, ref);
      assert.ok(
        relErr(r.loss_with_mem, expected.loss_with_mem) < 1e-5,
        `ablated loss_with_mem ${r.loss_with_mem} vs ${expected.loss_with_mem}`,
      );
      assert.ok(
        relErr(r.loss_no_mem, expected.loss_no_mem) < 1e-5,
        `ablated loss_no_mem ${r.loss_no_mem} vs ${expected.loss_no_mem}`,
      );
      // …and the feature matters: with it on, the loss is another (the reference test checks that one).
      assert.ok(
        relErr(r.loss_with_mem, ref.loss_with_mem as number) > 1e-5,
        `${a.name} does not change the loss at this length`,
      );
    } finally {
      await loaded.compiled.release();
      rmSync(copy, { recursive: true, force: true });
    }
  });
}

// Windows of 16 in every layer (Mistral), of 8 in layer 1 only (tiny-qwen2-sliding: Qwen2 by max_window_layers,
// SmolLM3 on its NoPE layer).
for (const name of ['tiny-mistral', 'tiny-qwen2-sliding', 'tiny-smollm3-sliding-bias']) {
  test(`cached decoding matches the teacher-forced objective past the sliding window: ${name}`, async () => {
    const engine = await compiled(hfFixture(name));
    try {
      const ref = readReference(hfFixture(`${name}/reference.json`));
      const { session, carried } = await engine.decoder();
      const ort = engine.runtime.ort;
      const d = engine.embedDim;
      const mem = Float32Array.from(ref.mem);
      const ids = ref.input_ids.slice(0, 30); // 1 + 30 positions: well past the window
      // The objective graph (no cache): per-token CE of ids[n+1] given mem, ids[0..n].
      const { tokenCe } = await engine.objective(1, mem, [ids], false);
      const feeds = (
        prefix: Float32Array,
        toks: number[],
        past: number,
        caches: Map<string, OrtTypes.Tensor> | null,
      ) => {
        const f: Record<string, OrtTypes.Tensor> = {
          prefix: new ort.Tensor('float32', prefix, [1, prefix.length / d, d]),
          ids: new ort.Tensor('int64', BigInt64Array.from(toks.map(BigInt)), [1, toks.length]),
          past_length: new ort.Tensor('int64', BigInt64Array.from([BigInt(past)]), [1]),
        };
        for (const c of carried)
          f[`past.${c.name}`] =
            caches?.get(c.name) ??
            new ort.Tensor(
              'float32',
              new Float32Array(0),
              c.dims.map((x) => (typeof x === 'number' ? x : x === 'past' ? 0 : 1)),
            );
        return f;
      };
      const ce = (logits: Float32Array, target: number) => {
        const mx = logits.reduce((a, b) => Math.max(a, b), -Infinity);
        const lse = mx + Math.log(logits.reduce((s, v) => s + Math.exp(v - mx), 0));
        return lse - logits[target];
      };
      // The decode graph: prefill mem + 4 tokens, then one token at a time through the cache.
      let r = await session.run(feeds(mem, ids.slice(0, 4), 0, null));
      let maxDiff = 0;
      for (let n = 3; n < ids.length - 1; n++) {
        if (n > 3) {
          const caches = new Map(carried.map((c) => [c.name, r[`present.${c.name}`]]));
          r = await session.run(feeds(new Float32Array(0), [ids[n]], 1 + n, caches));
        }
        maxDiff = Math.max(maxDiff, Math.abs(ce(r.logits.data as Float32Array, ids[n + 1]) - tokenCe[n]));
      }
      assert.ok(maxDiff < 1e-4, `cached decoding's CE differs from the objective's by ${maxDiff}`);
    } finally {
      await engine.release();
    }
  });
}

const configure = (raw: RawConfig) =>
  architectureFor(raw, 'test/config.json').configure(raw, 'test/config.json') as any;
const base = {
  vocab_size: 32,
  hidden_size: 16,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  intermediate_size: 32,
  num_hidden_layers: 4,
};

test('qwen2/qwen3 sliding windows follow use_sliding_window, max_window_layers and layer_types', () => {
  for (const model_type of ['qwen2', 'qwen3']) {
    // Qwen2.5 configs: sliding_window set but use_sliding_window false: full attention everywhere.
    assert.deepEqual(
      configure({ ...base, model_type, sliding_window: 4096, max_window_layers: 2, use_sliding_window: false }).windows,
      [null, null, null, null],
    );
    assert.deepEqual(
      configure({ ...base, model_type, sliding_window: 8, max_window_layers: 2, use_sliding_window: true }).windows,
      [null, null, 8, 8],
    );
    assert.deepEqual(configure({ ...base, model_type, sliding_window: 8, use_sliding_window: true }).windows, [
      null,
      null,
      null,
      null,
    ]); // default max_window_layers 28
    const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'attention'];
    assert.deepEqual(
      configure({ ...base, model_type, sliding_window: 8, use_sliding_window: true, layer_types: types }).windows,
      [8, null, 8, null],
    );
    assert.throws(
      () => configure({ ...base, model_type, sliding_window: 8, layer_types: types }),
      (e: Error) =>
        e instanceof ModelConfigError && /test\/config\.json.*layer_types\[0\].*sliding_window/.test(e.message),
    );
    assert.throws(
      () =>
        configure({
          ...base,
          model_type,
          layer_types: ['chunked_attention', 'full_attention', 'full_attention', 'full_attention'],
        }),
      /test\/config\.json: layer_types\[0\] "chunked_attention" is not supported/,
    );
  }
  assert.equal(configure({ ...base, model_type: 'qwen3' }).headDim, 128); // Qwen3Config's default, not hidden/heads
  assert.equal(configure({ ...base, model_type: 'qwen2' }).headDim, 8);
});

test('smollm3: NoPE layers by default every no_rope_layer_interval-th; sliding only on NoPE layers when asked', () => {
  assert.deepEqual(configure({ ...base, model_type: 'smollm3' }).useRope, [true, true, true, false]);
  assert.deepEqual(configure({ ...base, model_type: 'smollm3', no_rope_layer_interval: 2 }).useRope, [
    true,
    false,
    true,
    false,
  ]);
  const c = configure({
    ...base,
    model_type: 'smollm3',
    no_rope_layer_interval: 2,
    use_sliding_window: true,
    sliding_window: 8,
  });
  assert.deepEqual(c.windows, [null, 8, null, 8]);
  assert.equal(c.tieWordEmbeddings, true);
  assert.throws(
    () => configure({ ...base, model_type: 'smollm3', no_rope_layers: [1, 0] }),
    /test\/config\.json: no_rope_layers must list/,
  );
});

test('mistral slides in every layer; olmo rejects a bad clip_qkv; unsupported rope types name the file', () => {
  const layers = configure({ ...base, model_type: 'mistral' }).numLayers;
  assert.deepEqual(configure({ ...base, model_type: 'mistral', sliding_window: 8 }).windows, Array(layers).fill(8));
  assert.deepEqual(
    configure({ ...base, model_type: 'mistral', sliding_window: null }).windows,
    Array(layers).fill(null),
  );
  assert.equal(configure({ ...base, model_type: 'olmo' }).clipQkv, null);
  assert.throws(() => configure({ ...base, model_type: 'olmo', clip_qkv: -1 }), /test\/config\.json: clip_qkv -1/);
  assert.equal(configure({ ...base, model_type: 'olmo2' }).normEps, 1e-5);
  for (const model_type of ['olmo', 'olmo2', 'qwen2', 'qwen3', 'mistral', 'smollm3']) {
    assert.throws(
      () => configure({ ...base, model_type, rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: 4 } }),
      /test\/config\.json: rope_type "yarn" is not supported/,
    );
  }
});
