/**
 * Config reading for phi3, gemma2 and gemma3_text: both transformers layouts, Hugging Face's defaults, clear errors;
 * one layer_types rule for every architecture that reads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommonConfig } from '../../src/models/config.ts';
import { readConfigJson } from '../../src/models/load.ts';
import { architectureFor } from '../../src/models/registry.ts';
import { gemma2 } from '../../src/models/gemma2.ts';
import { gemma3Text } from '../../src/models/gemma3.ts';
import { phi3 } from '../../src/models/phi3.ts';
import { hfFixture } from '../helpers.ts';

const raw = (name: string) => readConfigJson(hfFixture(`${name}/config.json`));

test('gemma3_text: transformers-4 rope fields and sliding_window_pattern read like transformers-5 rope_parameters and layer_types', () => {
  const v5 = raw('tiny-gemma3-text');
  const v4: Record<string, unknown> = {
    ...v5,
    rope_theta: 1_000_000,
    rope_scaling: { rope_type: 'linear', factor: 8 },
    rope_local_base_freq: 10_000,
    sliding_window_pattern: 2,
  };
  delete v4.rope_parameters;
  delete v4.layer_types;
  delete v4._sliding_window_pattern;
  const a = gemma3Text.configure(v5, 'v5');
  const b = gemma3Text.configure(v4, 'v4');
  assert.deepEqual(b.rope, a.rope);
  assert.deepEqual(b.layerTypes, a.layerTypes);
  assert.deepEqual(a.rope.sliding_attention, { theta: 10_000, scaling: null, partial: 1 });
  assert.deepEqual(a.rope.full_attention.scaling, { type: 'linear', factor: 8 });
  assert.equal(a.rope.full_attention.theta, 1_000_000);
  // Hugging Face's default pattern: every 6th layer is full.
  const six = gemma3Text.configure({ ...v4, num_hidden_layers: 7, sliding_window_pattern: undefined }, 'six');
  assert.deepEqual(six.layerTypes.map((t) => t[0]).join(''), 'sssssfs');
  assert.equal(a.qkNorm, true);
  assert.equal(a.attnSoftcap, null);
  assert.equal(a.queryPreAttnScalar, 16);
});

test("gemma2: layer_types absent → sliding on even layers; soft-caps default to Hugging Face's 50 / 30, null turns them off", () => {
  const c = raw('tiny-gemma2');
  const noTypes: Record<string, unknown> = { ...c, num_hidden_layers: 4 };
  delete noTypes.layer_types;
  delete noTypes.attn_logit_softcapping;
  delete noTypes.final_logit_softcapping;
  const g = gemma2.configure(noTypes, 'g');
  assert.deepEqual(g.layerTypes, ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);
  assert.equal(g.attnSoftcap, 50);
  assert.equal(g.finalSoftcap, 30);
  const off = gemma2.configure({ ...c, attn_logit_softcapping: null, final_logit_softcapping: null }, 'off');
  assert.equal(off.attnSoftcap, null);
  assert.equal(off.finalSoftcap, null);
  assert.equal(gemma2.configure(c, 'g').queryPreAttnScalar, 24);
  assert.equal(gemma2.configure(c, 'g').activation, 'gelu_tanh');
});

test('phi3: partial rotary width and a sliding window on every layer are read; null window means full attention', () => {
  const c = raw('tiny-phi3');
  assert.equal(phi3.configure(c, 'p').slidingWindow, null);
  assert.equal(phi3.configure(c, 'p').rotaryDim, 16);
  const partial = phi3.configure(
    { ...c, sliding_window: 2047, rope_parameters: { ...c.rope_parameters, partial_rotary_factor: 0.75 } },
    'p',
  );
  assert.equal(partial.slidingWindow, 2047);
  assert.equal(partial.rotaryDim, 12);
});

test('unsupported config values: one error naming the file and the field', () => {
  const where = '/models/x/config.json';
  const g3 = raw('tiny-gemma3-text');
  assert.throws(
    () => gemma3Text.configure({ ...g3, attn_logit_softcapping: 50 }, where),
    /\/models\/x\/config\.json: attn_logit_softcapping 50 is not supported for gemma3_text/,
  );
  assert.throws(
    () => gemma3Text.configure({ ...g3, use_bidirectional_attention: true }, where),
    /config\.json: use_bidirectional_attention/,
  );
  assert.throws(
    () => gemma3Text.configure({ ...g3, layer_types: ['sliding_attention', 'chunked_attention'] }, where),
    /config\.json: layer_types\[1\] "chunked_attention" is not supported/,
  );
  assert.throws(
    () => gemma3Text.configure({ ...g3, layer_types: ['full_attention'] }, where),
    /config\.json: layer_types must list one type per layer \(2\)/,
  );
  assert.throws(
    () =>
      gemma3Text.configure({ ...g3, rope_parameters: { full_attention: g3.rope_parameters.full_attention } }, where),
    /config\.json: rope_parameters lacks "sliding_attention"/,
  );
  assert.throws(
    () =>
      gemma3Text.configure(
        {
          ...g3,
          rope_parameters: { ...g3.rope_parameters, full_attention: { rope_type: 'yarn', factor: 8, rope_theta: 1e6 } },
        },
        where,
      ),
    /config\.json rope_parameters\.full_attention: rope_type "yarn" is not supported/,
  );
  const g2 = raw('tiny-gemma2');
  assert.throws(
    () => gemma2.configure({ ...g2, sliding_window: null }, where),
    /config\.json: layer_types\[0\] is "sliding_attention" but sliding_window is not set/,
  );
  assert.throws(
    () => gemma2.configure({ ...g2, final_logit_softcapping: 'big' }, where),
    /config\.json: final_logit_softcapping must be a positive number or null/,
  );
  assert.throws(
    () => gemma2.configure({ ...g2, hidden_activation: 'swiglu' }, where),
    /config\.json: activation "swiglu" is not supported/,
  );
  const p = raw('tiny-phi3');
  // Phi-3 128k checkpoints use "longrope" scaling.
  assert.throws(
    () =>
      phi3.configure(
        { ...p, rope_parameters: { rope_type: 'longrope', rope_theta: 1e4, short_factor: [1], long_factor: [1] } },
        where,
      ),
    /config\.json: rope_type "longrope" is not supported/,
  );
  assert.throws(
    () => phi3.configure({ ...p, sliding_window: 0 }, where),
    /config\.json: sliding_window must be a positive integer or null/,
  );
});

test('one layer_types rule: Gemma 2, Gemma 3, Qwen2 and SmolLM3 accept and refuse the same lists', () => {
  const where = '/models/x/config.json';
  const qwen2 = { ...raw('tiny-qwen2'), sliding_window: 8, use_sliding_window: true };
  const smollm3 = { ...raw('tiny-smollm3'), sliding_window: 8 };
  const read: [string, (types: unknown) => string[]][] = [
    ['gemma2', (types) => gemma2.configure({ ...raw('tiny-gemma2'), layer_types: types }, where).layerTypes],
    [
      'gemma3_text',
      (types) => gemma3Text.configure({ ...raw('tiny-gemma3-text'), layer_types: types }, where).layerTypes,
    ],
    [
      'qwen2',
      (types) => windowsAsTypes(architectureFor(qwen2, where).configure({ ...qwen2, layer_types: types }, where)),
    ],
    [
      'smollm3',
      (types) => windowsAsTypes(architectureFor(smollm3, where).configure({ ...smollm3, layer_types: types }, where)),
    ],
  ];
  for (const [name, types] of read) {
    assert.deepEqual(types(['sliding_attention', 'full_attention']), ['sliding_attention', 'full_attention'], name);
    // "attention" is transformers' legacy name of full attention.
    assert.deepEqual(types(['attention', 'sliding_attention']), ['full_attention', 'sliding_attention'], name);
    assert.throws(
      () => types(['full_attention']),
      /config\.json: layer_types must list one type per layer \(2\)/,
      `${name}: too few`,
    );
    assert.throws(
      () => types(['full_attention', 'full_attention', 'sliding_attention']),
      /config\.json: layer_types must list one type per layer \(2\)/,
      `${name}: too many`,
    );
    assert.throws(
      () => types(['full_attention', 'chunked_attention']),
      /config\.json: layer_types\[1\] "chunked_attention" is not supported/,
      name,
    );
  }
});

/** Llama-family configs keep per-layer windows; a window means a sliding layer. */
function windowsAsTypes(c: CommonConfig): string[] {
  return (c as CommonConfig & { windows: (number | null)[] }).windows.map((w) =>
    w === null ? 'full_attention' : 'sliding_attention',
  );
}
