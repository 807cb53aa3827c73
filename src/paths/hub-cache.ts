/**
 * Models where users keep them: a Hugging Face hub id (`org/name`) resolved in the local hub cache, laid out as the
 * hub client (transformers, `hf download`) writes it:
 *
 *   <cache>/models--<org>--<name>/refs/main                 the revision main points at (a commit hash)
 *   <cache>/models--<org>--<name>/snapshots/<revision>/…    the files, symlinks to ../../blobs/<hash>
 *
 *   <cache>/models--<org>--<name>/refs/<branch or tag>        other revisions downloaded by name
 *   <cache>/models--<org>--<name>/.no_exist/<revision>/<file> files the hub said the repo does not have
 *
 * `org/name@<revision>` pins a revision: a commit hash with a snapshot folder, or a branch/tag name under refs/.
 * <cache> is HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (the
 * hub client's own order). Nothing is downloaded: a model that is not there is an error naming the folder searched and
 * the command that fills it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** `org/name[@revision]` as the hub spells repo ids: one slash, no leading dot or dash, no `..`. */
const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.includes('..');
}

/** The hub cache folder the hub client would use, from the environment. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return resolve(env.HF_HUB_CACHE);
  if (env.HF_HOME) return resolve(env.HF_HOME, 'hub');
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'huggingface', 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

export class HubCacheError extends Error {}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function downloadHint(id: string): string {
  return (
    `download it on a machine with internet access with \`hf download ${id}\` (older clients: \`huggingface-cli download ${id}\`), ` +
    'or point HF_HUB_CACHE (or HF_HOME) at the cache that holds it'
  );
}

/**
 * The snapshot folder of hub model `id` in the local cache (refs/main's revision; the only snapshot when there is no
 * refs/main), or a HubCacheError that names the folder searched and how to fill it.
 */
export function resolveHubModel(idWithRevision: string, env: NodeJS.ProcessEnv = process.env): string {
  const cache = hubCacheDir(env);
  const [id, pinned] = idWithRevision.split('@') as [string, string | undefined];
  const [org, name] = id.split('/');
  const repo = join(cache, `models--${org}--${name}`);
  const snapshots = join(repo, 'snapshots');
  if (!isDir(snapshots)) {
    throw new HubCacheError(
      `model "${idWithRevision}" is not a folder (no ${resolve(idWithRevision)}), not a ` +
        `bundled model, and, as a Hugging Face hub id, not in the local cache (searched ${repo}); ` +
        `if it is a hub id, ${downloadHint(id)}`,
    );
  }
  let revision: string;
  if (pinned !== undefined) {
    revision = pinnedRevision(repo, id, pinned);
  } else if (existsSync(join(repo, 'refs', 'main'))) {
    revision = refRevision(repo, 'main', id);
  } else {
    const revs = readdirSync(snapshots)
      .filter((r) => isDir(join(snapshots, r)))
      .sort();
    if (revs.length === 0) throw new HubCacheError(`${snapshots} holds no snapshot of "${id}"; ${downloadHint(id)}`);
    if (revs.length > 1) {
      throw new HubCacheError(
        `${repo} has no refs/main and ${revs.length} snapshots (${revs.join(', ')}): ` +
          `give the snapshot folder you mean as --model ${join(snapshots, '<revision>')} ` +
          `or pin one as --model ${id}@<revision>`,
      );
    }
    revision = revs[0];
  }
  const dir = join(snapshots, revision);
  if (!existsSync(join(dir, 'config.json'))) {
    if (hubNoExist(dir, 'config.json')) {
      throw new HubCacheError(
        `"${id}" has no config.json at revision ${revision} (the hub said so when it was ` +
          `downloaded: ${hubNoExist(dir, 'config.json')}); it is not a transformers model at that revision: ` +
          'pin another one (--model org/name@<revision>)',
      );
    }
    throw new HubCacheError(
      `${dir} (the cached snapshot of "${id}") has no config.json: the download is incomplete or holds other files only; ${downloadHint(id)}`,
    );
  }
  return dir;
}

/** The commit refs/<ref> names, checked to be a snapshot folder of the cache. */
function refRevision(repo: string, ref: string, id: string): string {
  const refFile = join(repo, 'refs', ref);
  const revision = readFileSync(refFile, 'utf8').trim();
  if (!/^[0-9A-Za-z._-]+$/.test(revision) || revision.includes('..')) {
    throw new HubCacheError(`${refFile} does not hold a revision (read ${JSON.stringify(revision)})`);
  }
  if (!isDir(join(repo, 'snapshots', revision))) {
    throw new HubCacheError(
      `${refFile} points at revision ${revision} but ${join(repo, 'snapshots', revision)} ` +
        `does not exist (interrupted download?); ${downloadHint(id)}`,
    );
  }
  return revision;
}

/** `@<revision>`: a snapshot folder (commit hash) or a branch/tag name the cache has under refs/. */
function pinnedRevision(repo: string, id: string, pinned: string): string {
  if (isDir(join(repo, 'snapshots', pinned))) return pinned;
  if (existsSync(join(repo, 'refs', pinned))) return refRevision(repo, pinned, id);
  const refs = isDir(join(repo, 'refs')) ? readdirSync(join(repo, 'refs')).sort() : [];
  const snaps = readdirSync(join(repo, 'snapshots'))
    .filter((r) => isDir(join(repo, 'snapshots', r)))
    .sort();
  throw new HubCacheError(
    `revision "${pinned}" of "${id}" is not in the local cache ` +
      `(refs: ${refs.join(', ') || 'none'}; snapshots: ${snaps.join(', ') || 'none'}); ` +
      `download it with \`hf download ${id} --revision ${pinned}\``,
  );
}

/**
 * For a file of a hub cache snapshot folder, the `.no_exist` marker the hub client wrote when the hub said the repo
 * has no such file at that revision (so a missing file is not an interrupted download); null otherwise.
 */
export function hubNoExist(snapshotDir: string, file: string): string | null {
  const snapshots = dirname(snapshotDir);
  if (basename(snapshots) !== 'snapshots') return null;
  const marker = join(dirname(snapshots), '.no_exist', basename(snapshotDir), file);
  return existsSync(marker) ? marker : null;
}

/** For a folder inside a hub cache snapshot (…/models--org--name/snapshots/<rev>), the repo name ("name"); else null. */
export function hubRepoName(dir: string): string | null {
  const snapshots = dirname(dir);
  if (basename(snapshots) !== 'snapshots') return null;
  const m = /^models--(.+?)--(.+)$/.exec(basename(dirname(snapshots)));
  return m ? m[2] : null;
}
