/**
 * Hostile or inconsistent model configs (issue 26, items 1 and 3): sizes are bounded from config.json before anything
 * is sized from them, and config and weights are cross-checked at load. Each error is one line naming the file and
 * the field. No tensor engine session is started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeModel } from '../../src/run/model-info.ts';
import { checkConfigLimits } from '../../src/models/config-limits.ts';
import { loadModel } from '../../src/models/load.ts';
import { bundled, hfFixture } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'cram-hostile-config-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** A copy of a model folder (weights and tokenizer linked by copy) with config.json edited by `edit`. */
function editedModel(src: string, name: string, edit: (c: Record<string, any>) => void): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    try {
      copyFileSync(join(src, f), join(dir, f));
    } catch {
      /* optional files */
    }
  }
  const c = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  return dir;
}

const XS = bundled('gutenberg-llama-xs');

for (const [field, value] of [
  ['num_hidden_layers', 1e9],
  ['hidden_size', 1e9],
  ['vocab_size', 1e12],
  ['intermediate_size', 1e9],
  ['num_attention_heads', 1e9],
  ['head_dim', 1e9],
  ['max_position_embeddings', 1e15],
  ['num_hidden_layers', 0],
  ['hidden_size', 12.5],
  ['num_key_value_heads', -2],
] as const) {
  test(`config.json ${field}: ${value} is refused in well under a second, naming the file and the field`, async () => {
    const dir = editedModel(XS, `${field}-${value}`, (c) => {
      c[field] = value;
    });
    const t0 = performance.now();
    assert.throws(
      () => describeModel(dir),
      (e: Error) =>
        e.message.includes(join(dir, 'config.json')) && e.message.includes(field) && !e.message.includes('\n'),
    );
    await assert.rejects(loadModel(dir, { tokenizer: false }), new RegExp(`config\\.json: ${field}`));
    assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
  });
}

test('sizes within bounds but far beyond memory are refused against the memory ceiling', () => {
  const c = {
    model_type: 'llama',
    num_hidden_layers: 1000,
    hidden_size: 65536,
    num_attention_heads: 64,
    intermediate_size: 200000,
    vocab_size: 256000,
  };
  assert.throws(
    () => checkConfigLimits(c, 'x/config.json', 64 * 2 ** 30),
    /x\/config\.json: num_hidden_layers 1000, hidden_size 65536, vocab_size 256000 imply at least \d+\.\d GiB of float32 weights, above the memory ceiling of 64\.0 GiB/,
  );
  // the default ceiling is a sanity bound (4 TiB), not this machine's memory: it refuses the above, while an 8B Llama
  // (32 GB of float32 weights) still plans on a small machine, where the memory plan says what fits
  assert.throws(() => checkConfigLimits(c, 'x/config.json'), /above the memory ceiling of 4096\.0 GiB/);
  checkConfigLimits(
    {
      model_type: 'llama',
      num_hidden_layers: 32,
      hidden_size: 4096,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      intermediate_size: 14336,
      vocab_size: 128256,
    },
    'llama-3.1-8b/config.json',
  );
  // the bundled models pass
  for (const m of ['gutenberg-llama-xs', 'gutenberg-llama-s', 'gutenberg-llama-m']) {
    checkConfigLimits(JSON.parse(readFileSync(join(bundled(m), 'config.json'), 'utf8')), m, 2 ** 30);
  }
});

test('rope_theta <= 0 or non-finite is refused, at top level and inside rope_parameters', () => {
  for (const edit of [
    (c: any) => {
      c.rope_parameters.rope_theta = -1;
    },
    (c: any) => {
      c.rope_parameters.rope_theta = 0;
    },
    (c: any) => {
      delete c.rope_parameters;
      c.rope_theta = -1;
    },
    (c: any) => {
      c.rope_parameters.rope_theta = 'big';
    },
  ]) {
    const dir = editedModel(XS, `theta-${Math.random()}`, edit);
    assert.throws(
      () => describeModel(dir),
      /config\.json: (rope_parameters\.)?rope_theta .* must be a positive finite number/,
    );
  }
});

test('a yarn rope_scaling next to rope_parameters is refused, not dropped', () => {
  const dir = editedModel(XS, 'yarn', (c) => {
    c.rope_scaling = { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 512 };
  });
  assert.throws(
    () => describeModel(dir),
    /config\.json: rope_scaling \(yarn ×4\) conflicts with rope_parameters \(default\); keep one/,
  );
  const same = editedModel(XS, 'same-rope', (c) => {
    c.rope_scaling = { ...c.rope_parameters };
  });
  assert.equal(describeModel(same).vocabSize, 8192);
});

test('config and weights are cross-checked at load: vocabulary, widths, heads, layers, tied vs untied', async () => {
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    [
      'vocab',
      (c) => {
        c.vocab_size = 100;
      },
      /config\.json: vocab_size 100 but the embedding model\.embed_tokens\.weight has 8192 rows/,
    ],
    [
      'hidden',
      (c) => {
        c.hidden_size = 96;
      },
      /config\.json does not match its weights: weight "model\.embed_tokens\.weight" has shape \[8192,64\] but the config implies \[8192,96\]/,
    ],
    [
      'heads',
      (c) => {
        c.num_attention_heads = 2;
        c.num_key_value_heads = 2;
      },
      /config\.json does not match its weights: weight "model\.layers\.0\.self_attn\.q_proj\.weight" has shape/,
    ],
    [
      'inter',
      (c) => {
        c.intermediate_size = 100;
      },
      /config\.json does not match its weights: weight "model\.layers\.0\.mlp\.gate_proj\.weight"/,
    ],
    [
      'layers',
      (c) => {
        c.num_hidden_layers = 1;
      },
      /config\.json: num_hidden_layers 1 but the weights hold layer 1 \(model\.layers\.1\./,
    ],
    [
      'more-layers',
      (c) => {
        c.num_hidden_layers = 3;
      },
      /config\.json does not match its weights: weight "model\.layers\.2\.input_layernorm\.weight" is missing/,
    ],
    [
      'untied',
      (c) => {
        c.tie_word_embeddings = false;
      },
      /config\.json: tie_word_embeddings is false but the weights have no lm_head\.weight/,
    ],
  ];
  for (const [name, edit, message] of cases) {
    await assert.rejects(
      loadModel(editedModel(XS, `cross-${name}`, edit), { tokenizer: false, fingerprint: false }),
      message,
      name,
    );
  }
  // consistent folders load: bundled (tied, no tie field needed), an untied fixture with lm_head, a llama2.c checkpoint
  await loadModel(XS, { tokenizer: false, fingerprint: false });
  await loadModel(hfFixture('tiny-llama-gqa-untied'), { tokenizer: false, fingerprint: false });
  await loadModel(bundled('stories260K'), { tokenizer: false, fingerprint: false });
});

test('a llama2.c header is bounded like a config.json', () => {
  const dir = join(work, 'l2c');
  mkdirSync(dir, { recursive: true });
  const header = Buffer.alloc(28);
  [64, 128, 1_000_000_000, 4, 4, 512, 256].forEach((v, i) => header.writeInt32LE(v, i * 4));
  writeFileSync(join(dir, 'model.bin'), header);
  copyFileSync(join(bundled('stories260K'), 'tok512.bin'), join(dir, 'tok512.bin'));
  assert.throws(
    () => describeModel(dir),
    /model\.bin \(llama2\.c header\): num_hidden_layers 1000000000 is above the sane bound 1024/,
  );
  assert.equal(describeModel(bundled('stories260K')).vocabSize, 512);
});
