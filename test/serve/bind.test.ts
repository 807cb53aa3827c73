/** Binding off this machine needs a token; the host is resolved, not compared as a string. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBind, isLoopback } from '../../src/serve/bind.ts';

test('loopback addresses are recognised in every spelling', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
  for (const a of ['0.0.0.0', '10.0.0.1', '::', '192.168.1.1', '::ffff:10.0.0.1']) assert.ok(!isLoopback(a), a);
});

test('a non-loopback bind without --token is refused; 127.1 and localhost are loopback; a token allows any', async () => {
  assert.deepEqual(await checkBind('127.1', undefined), ['127.0.0.1']);
  assert.ok((await checkBind('localhost', undefined)).every(isLoopback));
  await assert.rejects(checkBind('0.0.0.0', undefined), /reachable from other machines, and there is no --token/);
  await assert.rejects(checkBind('::', undefined), /--token/);
  assert.deepEqual(await checkBind('0.0.0.0', 'secret-token'), ['0.0.0.0']);
  await assert.rejects(checkBind('no-such-host.invalid', 'secret-token'), /does not resolve/);
});
