/**
 * Known limits fail early, end to end (src/cram/limits.ts): `cram experiment` refuses a config whose lengths exceed a
 * model's positions, or whose model exceeds the memory limit, before any work and without a results folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

test("an experiment whose lengths exceed a model's positions, or whose model exceeds memory, fails before any work", () => {
  const work = mkdtempSync(join(tmpdir(), 'cram-fits-'));
  try {
    const config = (name: string, extra: Record<string, unknown>) => {
      const file = join(work, `${name}.yaml`);
      writeFileSync(
        file,
        YAML.stringify({
          name,
          output_dir: join(work, 'results'),
          backend: 'cpu',
          models: ['gutenberg-llama-xs', 'stories260K'],
          sources: ['gutenberg-heldout'],
          lengths: [8, 600],
          n_mem: [1, 4],
          samples: 1,
          max_steps: 2,
          ...extra,
        }),
      );
      return file;
    };
    const long = spawnSync('node', ['--import', 'tsx', 'src/cli/main.ts', 'experiment', config('long', {})], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(long.status, 1);
    assert.match(long.stderr, /600 tokens with K = 4 vectors needs 604 positions, but stories260K takes 512/);
    assert.equal(existsSync(join(work, 'results', 'long')), false, 'no results folder for a run that cannot fit');
    const big = spawnSync(
      'node',
      ['--import', 'tsx', 'src/cli/main.ts', 'experiment', config('big', { lengths: [8] })],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CRAM_MEMORY_LIMIT: '300M' } },
    );
    assert.equal(big.status, 1);
    assert.match(
      big.stderr,
      /gutenberg-llama-xs needs about \d+ MiB on the cpu backend .* but the limit set by CRAM_MEMORY_LIMIT is 300 MiB/,
    );
    assert.equal(existsSync(join(work, 'results', 'big')), false);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
