/**
 * End to end through the CLI: gutenberg-llama-s with K=8 crams a 16-token held-out Gutenberg text to accuracy 1.0,
 * and `eval` of the saved vectors confirms accuracy 1.0 and exact greedy regeneration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture } from '../../helpers.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const cram = (...args: string[]) =>
  JSON.parse(
    execFileSync('node', ['--import', 'tsx', 'src/cli/main.ts', ...args, '--json', '--backend', 'cpu'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );

test('cram run (K=8, 16 tokens, gutenberg-llama-s) reaches accuracy 1.0; eval of the saved vectors confirms it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cram-cli-'));
  const out = join(dir, 'v.safetensors');
  const passage = fixture('heldout-passage.txt');
  const run = cram(
    'run',
    '--model',
    'gutenberg-llama-s',
    '--text-file',
    passage,
    '--length',
    '16',
    '--mem',
    '8',
    '--max-steps',
    '1500',
    '--out',
    out,
  );
  assert.equal(run.best_accuracy, 1);
  assert.equal(run.stop_reason, 'solved');
  assert.equal(run.n_tokens, 16);
  assert.equal(run.vector_file, out);
  assert.ok(run.original_accuracy < 1);
  assert.ok(run.info_gain_nats > 0);
  const ev = cram('eval', '--model', 'gutenberg-llama-s', '--vector', out, '--text-file', passage);
  assert.equal(ev.accuracy, 1);
  assert.equal(ev.regenerated_exact, true);
  assert.equal(ev.regenerated_prefix_tokens, 15);
  assert.equal(ev.text_matches, true);
  assert.ok(Math.abs(ev.loss - run.loss_at_best_accuracy) < 1e-4 * run.loss_at_best_accuracy);
  // Vectors trained on one model are refused by another.
  assert.throws(
    () => cram('eval', '--model', 'gutenberg-llama-xs', '--vector', out, '--text-file', passage),
    /was trained on model "gutenberg-llama-s"/,
  );
  rmSync(dir, { recursive: true });
});
