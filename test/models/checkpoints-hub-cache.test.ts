/**
 * `--model org/name[@revision]` against a hub cache written by huggingface_hub itself (test/fixtures/hub-cache/hub,
 * made by make_hub_cache.py beside it: snapshot_download / hf_hub_download from a loopback server that mimics the
 * hub): blobs + symlinked snapshots, refs/main and refs/v1, two commits sharing a blob, .no_exist markers, trees/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { checkAgainstReference, readReference, verify } from '../../src/cram/verify.ts';
import { hubNoExist } from '../../src/paths/hub-cache.ts';
import { loadModel } from '../../src/models/load.ts';
import { resolveModelDir } from '../../src/paths/index.ts';
import { fixture, open } from '../helpers.ts';

const CACHE = fixture('hub-cache/hub');
type Revisions = { repo: string; main: string; v1: string };
const REVS = JSON.parse(readFileSync(fixture('hub-cache/revisions.json'), 'utf8')) as Revisions;
const SNAPSHOTS = join(CACHE, `models--${REVS.repo.replace('/', '--')}`, 'snapshots');

async function withCache<T>(fn: () => Promise<T> | T): Promise<T> {
  const saved = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = CACHE;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = saved;
  }
}

test('the fixture is what huggingface_hub writes: snapshot files link into ../../blobs, shared across commits', () => {
  const cfg = join(SNAPSHOTS, REVS.main, 'config.json');
  assert.ok(lstatSync(cfg).isSymbolicLink());
  assert.match(readlinkSync(cfg), /^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
  const gen = (rev: string) => realpathSync(join(SNAPSHOTS, rev, 'generation_config.json'));
  assert.equal(gen(REVS.main), gen(REVS.v1)); // one blob for a file both commits have unchanged
});

test('org/name is the commit refs/main names, loads through the symlinks and matches transformers', async () => {
  await withCache(async () => {
    assert.equal(resolveModelDir(REVS.repo), join(SNAPSHOTS, REVS.main));
    const loaded = await open(REVS.repo);
    try {
      assert.equal(loaded.name, 'tiny-llama');
      assert.equal(loaded.config.dtype, 'bfloat16');
      const tok = loaded.tokenizer!;
      assert.ok(tok.bosId !== null && tok.encode('The house')[0] === tok.bosId);
      const ref = readReference(fixture('checkpoints/llama-3.2-1b-bf16/reference.json'));
      const check = checkAgainstReference(await verify(loaded, loaded.compiled, ref), ref, true);
      assert.ok(check.ok, check.failures.join('; '));
    } finally {
      await loaded.compiled.release();
    }
  });
});

test('org/name@revision pins a branch (refs/v1) or a commit; an unknown revision names what there is', async () => {
  await withCache(async () => {
    const old = join(SNAPSHOTS, REVS.v1);
    assert.equal(resolveModelDir(`${REVS.repo}@v1`), old);
    assert.equal(resolveModelDir(`${REVS.repo}@${REVS.v1}`), old);
    assert.equal(resolveModelDir(`${REVS.repo}@main`), join(SNAPSHOTS, REVS.main));
    assert.throws(
      () => resolveModelDir(`${REVS.repo}@v9`),
      /revision "v9" of "cram-fixtures\/tiny-llama" is not in the local cache \(refs: main, v1;.*--revision v9/,
    );
    const loaded = await open(`${REVS.repo}@v1`, { tokenizer: false });
    try {
      assert.equal(loaded.config.dtype, 'float32');
      const ref = readReference(fixture('checkpoints/llama-3.2-1b-fp32/reference.json'));
      const check = checkAgainstReference(await verify(loaded, loaded.compiled, ref), ref, true);
      assert.ok(check.ok, check.failures.join('; '));
    } finally {
      await loaded.compiled.release();
    }
  });
});

test('.no_exist markers: a file the hub said is absent is reported as absent, not as a broken download', async () => {
  const main = join(SNAPSHOTS, REVS.main);
  const old = join(SNAPSHOTS, REVS.v1);
  assert.ok(hubNoExist(main, 'tokenizer.model'));
  assert.equal(hubNoExist(main, 'tokenizer.json'), null);
  assert.ok(hubNoExist(old, 'tokenizer.json'));
  await withCache(async () => {
    await assert.rejects(
      loadModel(`${REVS.repo}@v1`),
      /has no tokenizer\.json: the hub repo has none at this revision \(.*\.no_exist/,
    );
  });
});
