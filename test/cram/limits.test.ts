/**
 * Known limits fail early (src/cram/limits.ts): a model too large for the backend's memory at open time, inputs longer
 * than the model's positions before any step (test/integration/cram/limits.test.ts: an experiment whose config
 * exceeds either fails before any work).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { cramAll, PAPER_SETTINGS } from '../../src/cram/cram.ts';
import {
  backendMemoryLimit,
  checkLimits,
  estimateMemoryBytes,
  LimitError,
  memoryLimitFromEnv,
  WEIGHT_COPIES,
} from '../../src/cram/limits.ts';
import { loadModel } from '../../src/models/load.ts';
import { bundled, compiled, open } from '../helpers.ts';
import { withEnv } from '../scratch.ts';

const MiB = 1024 * 1024;

test('CRAM_MEMORY_LIMIT: sizes with units, "off", and one clear error otherwise', () => {
  assert.equal(memoryLimitFromEnv(undefined), null);
  assert.equal(memoryLimitFromEnv('512M'), 512 * MiB);
  assert.equal(memoryLimitFromEnv('16GiB'), 16 * 1024 * MiB);
  assert.equal(memoryLimitFromEnv('1048576'), MiB);
  assert.equal(memoryLimitFromEnv('off'), 'off');
  assert.throws(() => memoryLimitFromEnv('lots'), /CRAM_MEMORY_LIMIT="lots" is not a size/);
});

test("the memory limit by backend: available memory on cpu, nvidia-smi's device memory on cuda, none on webgpu", async () => {
  await withEnv({ CRAM_MEMORY_LIMIT: undefined }, () => {
    const cpu = backendMemoryLimit('cpu')!;
    assert.ok(cpu.bytes > 0 && cpu.bytes <= totalmem());
    assert.equal(backendMemoryLimit('webgpu'), null);
  });
  // A stand-in nvidia-smi on PATH reporting an 80 GiB device.
  const bin = mkdtempSync(join(tmpdir(), 'cram-fake-smi-'));
  writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\necho 81920\n');
  chmodSync(join(bin, 'nvidia-smi'), 0o755);
  try {
    await withEnv(
      { CRAM_MEMORY_LIMIT: undefined, PATH: `${bin}:${process.env.PATH}`, CUDA_VISIBLE_DEVICES: undefined },
      () => {
        assert.deepEqual(backendMemoryLimit('cuda'), { bytes: 80 * 1024 * MiB, what: "the CUDA device's memory" });
      },
    );
    await withEnv({ CRAM_MEMORY_LIMIT: undefined, PATH: bin, CUDA_VISIBLE_DEVICES: undefined }, () => {
      writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\nexit 9\n');
      assert.equal(backendMemoryLimit('cuda'), null); // unreadable: the check is skipped, not guessed
    });
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  await withEnv({ CRAM_MEMORY_LIMIT: '2G' }, () =>
    assert.deepEqual(backendMemoryLimit('webgpu'), { bytes: 2048 * MiB, what: 'the limit set by CRAM_MEMORY_LIMIT' }),
  );
  await withEnv({ CRAM_MEMORY_LIMIT: 'off' }, () => assert.equal(backendMemoryLimit('cpu'), null));
});

test('checkLimits: positions and memory, each with the limit and what to do', async () => {
  const { model } = await loadModel(bundled('stories260K'), { tokenizer: false, fingerprint: false });
  assert.equal(model.maxPositions, 512);
  checkLimits(model, 'cpu', { maxTokens: 512, memoryLimit: null });
  assert.throws(
    () =>
      checkLimits(model, 'cpu', {
        name: 'stories260K',
        maxTokens: 513,
        tokensFrom: 'text t (1 vectors + 512 tokens)',
        memoryLimit: null,
      }),
    (e: Error) =>
      e instanceof LimitError &&
      /stories260K accepts at most 512 positions \(\[mem\] vectors \+ text tokens\) but text t \(1 vectors \+ 512 tokens\) needs 513: use texts of at most 512 positions/.test(
        e.message,
      ),
  );
  const need = estimateMemoryBytes(model, 1000);
  assert.ok(need > 512 * MiB + 1000 * model.config.vocabSize * 12);
  assert.ok(estimateMemoryBytes(model) < need);
  checkLimits(model, 'cpu', { batchTokens: 1000, memoryLimit: { bytes: need, what: 'the test limit' } });
  assert.throws(
    () =>
      checkLimits(model, 'cpu', {
        name: 'stories260K',
        batchTokens: 1000,
        memoryLimit: { bytes: need - 1, what: 'the test limit' },
      }),
    new RegExp(
      `stories260K needs about \\d+ MiB on the cpu backend \\(\\d+ MiB of float32 weights × ${WEIGHT_COPIES} for the shared copy and activations \\+ logits of 1000 batch positions × 512 tokens \\+ 512 MiB\\) ` +
        'but the test limit is \\d+ MiB: free memory, use a smaller model, smaller batches \\(batch\\.max_tokens\\), or a GPU backend .*CRAM_MEMORY_LIMIT=off skips this check$',
    ),
  );
});

test('a model too large for the backend fails when it is opened, before any session', async () => {
  await withEnv({ CRAM_MEMORY_LIMIT: '100M' }, async () => {
    await assert.rejects(
      open(bundled('gutenberg-llama-xs'), { tokenizer: false }),
      /gutenberg-llama-xs needs about \d+ MiB on the cpu backend .* but the limit set by CRAM_MEMORY_LIMIT is 100 MiB/,
    );
  });
  const ok = await withEnv({ CRAM_MEMORY_LIMIT: '4G' }, () =>
    open(bundled('gutenberg-llama-xs'), { tokenizer: false }),
  );
  await ok.compiled.release();
});

test('a text longer than the positions fails before the first step (no session is built)', async () => {
  const engine = await compiled(bundled('stories260K'));
  const t0 = performance.now();
  const ids = Array.from({ length: 520 }, (_, i) => 1 + (i % 200));
  await assert.rejects(
    cramAll(
      engine,
      [
        { key: 'short', ids: ids.slice(0, 8), nMem: 1 },
        { key: 'long', ids, nMem: 2 },
      ],
      PAPER_SETTINGS,
    ),
    /accepts at most 512 positions \(\[mem\] vectors \+ text tokens\) but text long \(2 vectors \+ 520 tokens\) needs 522/,
  );
  assert.ok(performance.now() - t0 < 2000, 'rejected before any graph was built or run');
  await engine.release();
});
