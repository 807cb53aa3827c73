/**
 * What keeps `cram view` read-only and local: every file it serves is resolved inside the results folder (no `..`,
 * no encoded traversal, no absolute path, no symlink leading out), and it binds a loopback address unless a token
 * guards it. Addresses are resolved, not compared as strings (`127.1` and `localhost` are loopback; a name that
 * resolves to a public address is not).
 */
import { lookup } from 'node:dns/promises';
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';

/** A request for something outside the results folder, or malformed: answered 403/400/404, never served. */
export class UnsafePathError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 403 | 404 | 409 = 403,
  ) {
    super(message);
  }
}

const inside = (root: string, p: string) => {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/**
 * The real path of `rel` (a URL path, already percent-decoded once by the router) inside `root`, or an
 * UnsafePathError. Refused: absolute paths, backslashes, NUL, `..` segments (also when still percent-encoded, or
 * encoded twice), and anything whose real path (symlinks followed) is outside the real `root`.
 */
export function resolveInside(root: string, rel: string, opts: { file?: boolean } = {}): string {
  if (typeof rel !== 'string' || rel.length > 4096) throw new UnsafePathError('bad path', 400);
  let p = rel;
  // A still-encoded path (%2e%2e, %252e...) is decoded until stable, so no encoding hides a `..`.
  for (let i = 0; i < 3 && /%[0-9a-f]{2}/i.test(p); i++) {
    try {
      p = decodeURIComponent(p);
    } catch {
      throw new UnsafePathError('malformed percent-encoding in the path', 400);
    }
  }
  if (p.includes('\0') || p.includes('\\')) throw new UnsafePathError('the path holds a NUL or a backslash', 400);
  if (isAbsolute(p) || /^[A-Za-z]:/.test(p))
    throw new UnsafePathError('absolute paths are refused: give a path inside the results folder');
  if (p.split('/').some((s) => s === '..')) throw new UnsafePathError('paths with ".." are refused');
  const realRoot = realpathSync(root);
  const target = join(realRoot, p);
  if (!inside(realRoot, target)) throw new UnsafePathError('outside the results folder');
  let real: string;
  try {
    real = realpathSync(target);
  } catch {
    throw new UnsafePathError(`not found: ${p}`, 404);
  }
  if (!inside(realRoot, real)) throw new UnsafePathError('the path leads outside the results folder (a symlink)');
  if (opts.file && !statSync(real).isFile()) throw new UnsafePathError(`not a file: ${p}`, 404);
  return real;
}

/** A run's folder name as used in URLs: one plain path segment. */
export function checkRunName(name: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || name.includes(sep)) {
    throw new UnsafePathError(`not a run name: ${JSON.stringify(String(name).slice(0, 80))}`, 400);
  }
  return name;
}

function loopbackAddress(a: string): boolean {
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v4)) return v4.startsWith('127.');
  return a === '::1' || (/^0*:(0*:)*0*1$/.test(a) && a.replace(/[:0]/g, '') === '1');
}

/** The addresses `host` resolves to, and whether every one of them is loopback. */
export async function resolveHost(host: string): Promise<{ addresses: string[]; loopback: boolean }> {
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (e) {
    throw new Error(`--host ${host}: cannot resolve it (${(e as Error).message}); give an address such as 127.0.0.1`);
  }
  if (addresses.length === 0) throw new Error(`--host ${host}: resolves to no address`);
  return { addresses, loopback: addresses.every(loopbackAddress) };
}

/** Throws unless the bind is loopback, or a token guards it. */
export async function checkBind(
  host: string,
  token: string | undefined,
): Promise<{ address: string; loopback: boolean }> {
  const { addresses, loopback } = await resolveHost(host);
  if (!loopback && !token) {
    throw new Error(
      `--host ${host} (${addresses.join(', ')}) is not a loopback address: anyone who can reach it could read ` +
        'the results; add --token <secret> to require it, or bind 127.0.0.1',
    );
  }
  return { address: addresses[0], loopback };
}

export { loopbackAddress };
