/**
 * `--model org/name` resolved in a local Hugging Face hub cache laid out as the hub client writes it (snapshot files
 * are symlinks to ../../blobs/<hash>, refs/main names the revision); nothing downloaded, clear errors otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAgainstReference, readReference, verify } from '../../src/cram/verify.ts';
import { hubCacheDir, isHubId } from '../../src/paths/hub-cache.ts';
import { loadModel } from '../../src/models/load.ts';
import { resolveModelDir } from '../../src/paths/index.ts';
import { hfFixture, open } from '../helpers.ts';
import { withEnv } from '../scratch.ts';

const FILES = ['config.json', 'model.safetensors', 'reference.json'];

/** Puts fixture `src` into `cache` as hub repo `id` at `revision` (blobs named by content hash, as the hub does). */
function addToCache(cache: string, id: string, src: string, revision: string, opts: { ref?: boolean } = {}): string {
  const repo = join(cache, `models--${id.replace('/', '--')}`);
  const snapshot = join(repo, 'snapshots', revision);
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  mkdirSync(snapshot, { recursive: true });
  for (const f of FILES) {
    const bytes = readFileSync(join(src, f));
    const hash = createHash('sha256').update(bytes).digest('hex');
    copyFileSync(join(src, f), join(repo, 'blobs', hash));
    symlinkSync(join('..', '..', 'blobs', hash), join(snapshot, f));
  }
  if (opts.ref !== false) {
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), revision);
  }
  return snapshot;
}

const REV = '0123456789abcdef0123456789abcdef01234567';

test('org/name from HF_HUB_CACHE: the snapshot refs/main names, loaded through the blob symlinks, matches its reference', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'cram-hub-'));
  const src = hfFixture('tiny-gemma2');
  addToCache(cache, 'acme/other-model', hfFixture('tiny-phi3'), 'ffff');
  // An older revision next to the one main points at: refs/main decides.
  addToCache(cache, 'acme/tiny-gemma2', hfFixture('tiny-phi3'), 'old0', { ref: false });
  const snapshot = addToCache(cache, 'acme/tiny-gemma2', src, REV);
  try {
    await withEnv({ HF_HUB_CACHE: cache }, async () => {
      assert.equal(resolveModelDir('acme/tiny-gemma2'), snapshot);
      const loaded = await open('acme/tiny-gemma2', { tokenizer: false });
      assert.equal(loaded.name, 'tiny-gemma2'); // the repo name, not the revision hash
      assert.equal(loaded.config.modelType, 'gemma2');
      // ONNX Runtime reads the weights from the blob itself (it refuses external data reached through symlinks).
      assert.equal(loaded.model.weights.folder, join(realpathSync(cache), 'models--acme--tiny-gemma2', 'blobs'));
      const ref = readReference(join(src, 'reference.json'));
      const check = checkAgainstReference(await verify(loaded, loaded.compiled, ref), ref, true);
      assert.ok(check.ok, check.failures.join('; '));
      await loaded.compiled.release();
    });
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('without refs/main the only snapshot is used; several snapshots and no ref is an error naming them', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'cram-hub-'));
  try {
    const only = addToCache(cache, 'acme/solo', hfFixture('tiny-phi3'), 'aaaa', { ref: false });
    addToCache(cache, 'acme/twice', hfFixture('tiny-phi3'), 'aaaa', { ref: false });
    addToCache(cache, 'acme/twice', hfFixture('tiny-phi3'), 'bbbb', { ref: false });
    await withEnv({ HF_HUB_CACHE: cache }, async () => {
      assert.equal(resolveModelDir('acme/solo'), only);
      assert.throws(
        () => resolveModelDir('acme/twice'),
        /models--acme--twice has no refs\/main and 2 snapshots \(aaaa, bbbb\): give the snapshot folder/,
      );
    });
    // A ref to a snapshot that is not there (interrupted download).
    mkdirSync(join(cache, 'models--acme--solo', 'refs'));
    writeFileSync(join(cache, 'models--acme--solo', 'refs', 'main'), 'cccc\n');
    await withEnv({ HF_HUB_CACHE: cache }, () =>
      assert.throws(
        () => resolveModelDir('acme/solo'),
        /refs\/main points at revision cccc but .*snapshots\/cccc does not exist/,
      ),
    );
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('a model not in the cache: the error names the cache searched and the download commands; nothing is fetched', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'cram-hub-'));
  try {
    await withEnv({ HF_HUB_CACHE: cache }, async () => {
      await assert.rejects(loadModel('EleutherAI/pythia-160m'), (e: Error) => {
        assert.ok(e.message.includes(join(cache, 'models--EleutherAI--pythia-160m')), e.message);
        assert.ok(e.message.includes('`hf download EleutherAI/pythia-160m`'), e.message);
        assert.ok(e.message.includes('`huggingface-cli download EleutherAI/pythia-160m`'), e.message);
        return true;
      });
    });
    // Not an org/name: the usual message.
    assert.throws(() => resolveModelDir('no-such-model'), /neither a folder nor a bundled model/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('the cache folder follows the hub client: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME, else ~/.cache', () => {
  assert.equal(hubCacheDir({ HF_HUB_CACHE: '/a/hub', HF_HOME: '/b' }), '/a/hub');
  assert.equal(hubCacheDir({ HF_HOME: '/b' }), '/b/hub');
  assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
  assert.equal(hubCacheDir({}), join(homedir(), '.cache', 'huggingface', 'hub'));
  assert.ok(isHubId('EleutherAI/pythia-160m'));
  assert.ok(isHubId('meta-llama/Llama-3.2-1B'));
  for (const s of ['pythia-160m', '../x', 'a/../b', '/abs/path', 'a/b/c', './a', 'org/.hidden'])
    assert.ok(!isHubId(s), s);
});
