/** cram view serves nothing outside the results folder, and binds loopback unless a token guards it. */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkBind, checkRunName, resolveHost, resolveInside, UnsafePathError } from '../../src/view/safety.ts';

const outside = mkdtempSync(join(tmpdir(), 'cram-view-outside-'));
writeFileSync(join(outside, 'secret.txt'), 'secret');
const root = mkdtempSync(join(tmpdir(), 'cram-view-root-'));
mkdirSync(join(root, 'run', 'vectors'), { recursive: true });
writeFileSync(join(root, 'run', 'vectors', 'a.safetensors'), 'x');
symlinkSync(join(outside, 'secret.txt'), join(root, 'run', 'leak.txt'));
symlinkSync(outside, join(root, 'run', 'leakdir'));

const refused = (rel: string, status?: number) =>
  assert.throws(
    () => resolveInside(root, rel, { file: true }),
    (e: unknown) => e instanceof UnsafePathError && (status === undefined || e.status === status),
    rel,
  );

test('a file inside the results folder resolves to its real path', () => {
  assert.match(resolveInside(root, 'run/vectors/a.safetensors', { file: true }), /run\/vectors\/a\.safetensors$/);
  assert.match(resolveInside(root, 'run/vectors'), /run\/vectors$/);
});

test('.. segments are refused, plain or percent-encoded (once or twice)', () => {
  for (const p of [
    '../secret.txt',
    'run/../../secret.txt',
    '..',
    '%2e%2e/secret.txt',
    '%2E%2E%2Fsecret.txt',
    'run/%2e%2e/%2e%2e/etc/passwd',
    '%252e%252e%252fsecret.txt',
    'run/..%2f..%2fetc/passwd',
  ])
    refused(p);
});

test('absolute paths, backslashes and NUL bytes are refused', () => {
  for (const p of [
    '/etc/passwd',
    '%2fetc%2fpasswd',
    `${outside}/secret.txt`,
    'C:/Windows',
    'run\\..\\..\\x',
    'run/a%00.txt',
  ])
    refused(p);
});

test('symlinks that lead out of the results folder are refused', () => {
  refused('run/leak.txt', 403);
  refused('run/leakdir/secret.txt', 403);
});

test('missing files and folders are 404, not served', () => {
  refused('run/nothing.txt', 404);
  refused('run/vectors', 404);
});

test('run names are one plain path segment', () => {
  assert.equal(checkRunName('quick-1.b_2'), 'quick-1.b_2');
  for (const n of ['..', '.', 'a/b', '', '.hidden', 'a\\b', '%2e%2e'])
    assert.throws(() => checkRunName(n), UnsafePathError, n);
});

test('loopback is decided on the resolved address: 127.1, localhost and ::1 are loopback', async () => {
  for (const h of ['127.0.0.1', '127.1', '127.0.0.2', 'localhost', '::1']) {
    assert.equal((await resolveHost(h)).loopback, true, h);
    assert.equal((await checkBind(h, undefined)).loopback, true, h);
  }
  for (const h of ['0.0.0.0', '::', '10.1.2.3', '192.168.0.1']) {
    assert.equal((await resolveHost(h)).loopback, false, h);
  }
});

test('a non-loopback bind is refused without a token and allowed with one', async () => {
  await assert.rejects(checkBind('0.0.0.0', undefined), /not a loopback address.*--token/);
  await assert.rejects(checkBind('10.1.2.3', undefined), /--token/);
  assert.equal((await checkBind('0.0.0.0', 'a-long-secret')).loopback, false);
  assert.equal((await checkBind('127.1', undefined)).address, '127.0.0.1');
});

test('an unresolvable host is a one-line error', async () => {
  await assert.rejects(checkBind('no-such-host.invalid', undefined), /cannot resolve it/);
});
