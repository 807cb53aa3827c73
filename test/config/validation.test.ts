/**
 * Config validation: keys that would collide, names that would leave the results folder,
 * counts and rates out of any sane range, non-finite numbers, binary garbage, and the `experiment:` field. Each case
 * is refused with one short line naming the field; valid configs keep their defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import {
  loadExperimentConfig as loadConfig,
  parseExperimentConfig as parseConfig,
} from '../../src/experiments/kinds/index.ts';
import { cramFields, cramSettings } from '../../src/config/settings.ts';

const base = { name: 'x', models: ['gutenberg-llama-xs'], sources: ['gutenberg-heldout'], lengths: [4, 8] };
const refuse = (extra: Record<string, unknown>, pattern: RegExp) => {
  assert.throws(
    () => parseConfig({ ...base, ...extra }, 'c.yaml'),
    (e: Error) => {
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n') && e.message.length < 400, `one short line: ${e.message}`);
      return true;
    },
  );
};

test('existing configs keep working: experiment defaults to capacity, bundled configs all parse', () => {
  const c = parseConfig(base, 'c.yaml');
  assert.equal(c.experiment, 'capacity');
  assert.deepEqual(c.n_mem, [1]);
  for (const f of [
    'quick',
    'paper-table1-bundled',
    'paper-fig4-vectors',
    'seen-vs-heldout',
    'paper-pythia-160m',
    'paper-llama-3.1-8b',
  ]) {
    assert.equal(loadConfig(new URL(`../../configs/${f}.yaml`, import.meta.url).pathname).experiment, 'capacity');
  }
  refuse({ experiment: 'capacitty' }, /experiment = "capacitty": one of "capacity"/);
});

test('entries that would give two records one key are refused', () => {
  refuse(
    { models: ['gutenberg-llama-xs', 'gutenberg-llama-xs'] },
    /^c\.yaml: models = .*: model "gutenberg-llama-xs" listed twice/,
  );
  refuse(
    { sources: ['gutenberg-heldout', 'random-words', 'gutenberg-heldout'] },
    /source "gutenberg-heldout" listed twice/,
  );
  refuse({ lengths: [4, 8, 4] }, /lengths = \[4,8,4\]: length 4 listed twice/);
  refuse({ n_mem: [1, 2, 2] }, /n_mem = .*: n_mem 2 listed twice/);
  refuse(
    {
      sources: [
        { kind: 'file', path: 'a.csv', name: 'mine' },
        { kind: 'file', path: 'b.csv', name: 'mine' },
      ],
    },
    /two sources are both named "mine": their records and vectors would overwrite each other/,
  );
  refuse(
    {
      sources: [
        { kind: 'file', path: 'a/x.csv' },
        { kind: 'file', path: 'b/x.csv' },
      ],
    },
    /both named "file:x\.csv"/,
  );
  // The same kind with and without line breaks are two sources with two names.
  assert.equal(
    parseConfig({ ...base, sources: ['gutenberg-heldout', { kind: 'gutenberg-heldout', keep_newlines: true }] }, 'c')
      .sources.length,
    2,
  );
});

test('every name that becomes a folder stays inside the results folder', () => {
  refuse({ name: '..' }, /^c\.yaml: name = "\.\.": the run name becomes a folder name/);
  refuse({ name: '.' }, /name = "\.": the run name becomes a folder name/);
  refuse({ name: 'a/b' }, /name = "a\/b"/);
  refuse(
    { sources: [{ kind: 'file', path: 'x.csv', name: '..' }] },
    /sources\[0\]\.name = "\.\.": a source name becomes a folder name/,
  );
  refuse({ output_dir: '' }, /output_dir = "": the results folder must be named/);
  refuse({ output_dir: '   ' }, /output_dir = "   ": the results folder must be named/);
});

test('counts and rates have sane bounds; NaN and Infinity are refused', () => {
  refuse({ random_samples: 1e8 }, /random_samples = 100000000: Too big/);
  refuse({ samples: 1e6 }, /samples = 1000000: Too big/);
  refuse({ lengths: [4, 1e9] }, /lengths\[1\] = 1000000000: Too big/);
  refuse({ optimizer: { lr: 1e30 } }, /optimizer\.lr = 1e\+30: Too big: expected number to be <=1/);
  refuse({ optimizer: { lr: NaN } }, /optimizer\.lr = NaN: Invalid input: expected number, received NaN/);
  refuse({ optimizer: { beta2: 1 } }, /optimizer\.beta2 = 1: Too big/);
  refuse({ max_steps: Infinity }, /max_steps = Infinity/);
  refuse({ seed: 0.5 }, /seed = 0\.5/);
  // YAML's .nan and .inf reach validation as numbers and are refused there too.
  const dir = mkdtempSync(join(tmpdir(), 'cram-config-'));
  const f = join(dir, 'nan.yaml');
  writeFileSync(
    f,
    'name: x\nmodels: [gutenberg-llama-xs]\nsources: [gutenberg-heldout]\nlengths: [4]\noptimizer: { lr: .nan }\n',
  );
  assert.throws(() => loadConfig(f), /nan\.yaml: optimizer\.lr = NaN/);
  // The same bounds for `cram run` and the compressor, named by their flags.
  assert.throws(
    () => cramFields({ optimizer: { lr: 1e30 } }, 'cram run', { 'optimizer.lr': '--lr' }),
    /cram run: --lr = 1e\+30: Too big/,
  );
  assert.throws(() => cramFields({ max_steps: NaN }, 'cram run', { max_steps: '--max-steps' }), /--max-steps = NaN/);
  assert.deepEqual(cramSettings(cramFields({}, 'x')).optimizer, {
    lr: 1e-2,
    beta1: 0.9,
    beta2: 0.9,
    eps: 1e-8,
    weightDecay: 0.01,
  });
});

test('binary garbage or a non-mapping config gives one short line, not the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cram-config-'));
  const bin = join(dir, 'garbage.yaml');
  writeFileSync(bin, Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 256)));
  assert.throws(
    () => loadConfig(bin),
    (e: Error) => /garbage\.yaml is not a text file/.test(e.message) && e.message.length < 200,
  );
  const text = join(dir, 'text.yaml');
  writeFileSync(text, 'x'.repeat(10_000));
  assert.throws(
    () => loadConfig(text),
    (e: Error) => /a config is a mapping of fields/.test(e.message) && e.message.length < 300,
  );
  const list = join(dir, 'list.yaml');
  writeFileSync(list, YAML.stringify([1, 2]));
  assert.throws(() => loadConfig(list), /not a list/);
  assert.ok(readFileSync(text).length === 10_000);
});

test('source options: keep_newlines only for Gutenberg, column only for files, encoding utf8 or latin1', () => {
  refuse(
    { sources: [{ kind: 'random-words', keep_newlines: true }] },
    /sources\[0\] = .*: keep_newlines applies to the Gutenberg sources only/,
  );
  refuse({ sources: [{ kind: 'gutenberg-seen', column: 'text' }] }, /column applies to sources of kind "file" only/);
  refuse({ sources: [{ kind: 'file', path: 'x.csv', encoding: 'cp1252' }] }, /sources\[0\]\.encoding = "cp1252"/);
  assert.equal(
    (
      parseConfig({ ...base, sources: [{ kind: 'file', path: 'x.csv', encoding: 'latin1' }] }, 'c').sources[0] as {
        encoding: string;
      }
    ).encoding,
    'latin1',
  );
});
