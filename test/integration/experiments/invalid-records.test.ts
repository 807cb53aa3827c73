/**
 * Resume reads the record file through the kind's schema: a line that is valid JSON but not a valid record does not
 * count as done, so its item is done again (and the log says so); the finished records are kept as they were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { SampleRecordSchema } from '../../../src/experiments/kinds/capacity/records.ts';
import { readJsonl } from '../../../src/results/run-folder.ts';
import { runExperiment } from '../../../src/run/harness.ts';
import { ready } from '../../helpers.ts';

test('an invalid record line is skipped on resume, said in the log, and its item is crammed again', async () => {
  await ready;
  const work = mkdtempSync(join(tmpdir(), 'cram-invalid-'));
  try {
    const config = join(work, 'invalid.yaml');
    writeFileSync(
      config,
      YAML.stringify({
        name: 'invalid',
        output_dir: join(work, 'results'),
        backend: 'cpu',
        models: ['gutenberg-llama-xs'],
        sources: ['gutenberg-heldout'],
        lengths: [6],
        samples: 3,
        max_steps: 3,
        patience: 3,
        curves: 0,
        regenerate: false,
        save_vectors: false,
        seed: 1,
      }),
    );
    const first = await runExperiment(config, { quiet: true, signals: false });
    assert.equal(first.ranNow, 3);
    const file = join(first.runDir, 'samples.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    // The second record loses a field and the third gets a field of the wrong type: both still valid JSON.
    const { best_loss: _gone, ...second } = JSON.parse(lines[1]) as Record<string, unknown>;
    const third = { ...(JSON.parse(lines[2]) as Record<string, unknown>), stop_reason: 42 };
    writeFileSync(file, [lines[0], JSON.stringify(second), JSON.stringify(third)].join('\n') + '\n');

    const said: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (said.push(String(s)), true)) as typeof process.stderr.write;
    let again;
    try {
      again = await runExperiment(config, { signals: false });
    } finally {
      process.stderr.write = write;
    }
    assert.equal(again.ranNow, 2, 'the two invalid records are made again');
    assert.match(
      said.join(''),
      /samples\.jsonl: 2 invalid records skipped \(line 2: best_loss: missing; line 3: stop_reason: .*\); those items run again/,
    );
    const valid = readJsonl(file, undefined, SampleRecordSchema);
    assert.equal(valid.length, 3);
    assert.equal(readFileSync(file, 'utf8').trim().split('\n')[0], lines[0], 'the finished record is kept as written');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
