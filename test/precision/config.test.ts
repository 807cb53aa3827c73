/**
 * The `precision` field: one schema for configs, `cram run` and the compressor (src/config/schema.ts, settings.ts),
 * default float32, the three precisions accepted, anything else refused in one line naming the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExperimentConfig as parseConfig } from '../../src/experiments/kinds/index.ts';
import { cramFields, cramPrecision } from '../../src/config/settings.ts';
import { PRECISIONS } from '../../src/engine/precision.ts';

const base = { name: 'x', models: ['gutenberg-llama-xs'], sources: ['gutenberg-heldout'], lengths: [4, 8] };

test('precision defaults to float32 and takes float32, bfloat16, float16', () => {
  assert.equal(parseConfig(base, 'c.yaml').precision, 'float32');
  assert.equal(cramPrecision(cramFields({}, 'cram run')), 'float32');
  for (const p of PRECISIONS) {
    assert.equal(parseConfig({ ...base, precision: p }, 'c.yaml').precision, p);
    assert.equal(cramPrecision(cramFields({ precision: p }, 'cram run')), p);
  }
});

test('an unknown precision is refused in one line naming the field (config) or the flag (CLI)', () => {
  for (const bad of ['fp16', 'bf16', 'float64', 'float8', 16, '']) {
    assert.throws(
      () => parseConfig({ ...base, precision: bad }, 'c.yaml'),
      (e: Error) => {
        assert.match(e.message, /c\.yaml.*precision/);
        assert.ok(!e.message.includes('\n') && e.message.length < 400, `one short line: ${e.message}`);
        return true;
      },
    );
  }
  assert.throws(
    () => cramFields({ precision: 'bf16' as never }, 'cram run', { precision: '--precision' }),
    /cram run: .*--precision/,
  );
});
