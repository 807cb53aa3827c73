/**
 * Signals: one Ctrl-C stops a run after the current step, even through `npm run` (where the run gets
 * the SIGINT twice: from the terminal's process group and forwarded by npm); a second Ctrl-C stops at once; SIGTERM to
 * npm alone stops the run gracefully too. Every stopped session is recorded, the lock is released, nothing is lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonLines, ROOT, workFolder, writeConfig } from './setup.ts';

const work = workFolder('signals');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test('StopSignals: signals within a second are one request (graceful); a later one stops at once', async () => {
  const flag = join(work, 'flag');
  const aborted = join(work, 'aborted');
  const script = `
    const { StopSignals } = await import('./src/run/stop.ts');
    const fs = await import('node:fs');
    const s = new StopSignals(() => {}, () => fs.writeFileSync(${JSON.stringify(aborted)}, 'aborted')).install();
    setInterval(() => { if (s.stopRequested) fs.writeFileSync(${JSON.stringify(flag)}, 'stop'); }, 10);
    process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  await until(() => out.includes('ready'), 20_000, 'the script to start');
  child.kill('SIGINT');
  child.kill('SIGINT'); // the same Ctrl-C, forwarded by npm
  await until(() => existsSync(flag), 5_000, 'the stop request');
  await sleep(300);
  assert.equal(child.exitCode, null, 'still running: stopping gracefully');
  await sleep(900);
  child.kill('SIGINT');
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 130);
  assert.equal(readFileSync(aborted, 'utf8'), 'aborted');
});

test(
  'Ctrl-C through npm run stops after the current step; SIGTERM to npm alone too; sessions and records intact',
  { timeout: 240_000 },
  async () => {
    const config = writeConfig(work, 'sig', {
      backend: 'cpu',
      models: ['gutenberg-llama-xs'],
      sources: ['gutenberg-heldout'],
      lengths: [4, 8, 16, 32, 48, 64],
      samples: 2,
      max_steps: 60,
      patience: 60,
      batch: { max_texts: 1, max_tokens: 4096 },
      curves: 0,
      seed: 2,
    });
    const runDir = join(work, 'results', 'sig');
    const samples = join(runDir, 'samples.jsonl');
    const start = () =>
      spawn('npm', ['run', '--silent', 'experiment', '--', config, '--quiet'], {
        cwd: ROOT,
        stdio: 'ignore',
        detached: true,
      });

    // Ctrl-C at a terminal: SIGINT to the whole process group (npm and the run).
    const a = start();
    await until(() => jsonLines(samples).length >= 1, 120_000, 'a first record');
    process.kill(-a.pid!, 'SIGINT');
    const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
      a.once('exit', (c, s) => r([c, s])),
    );
    assert.ok(code === 130 || signal === 'SIGINT', `npm ended with ${code ?? signal}`);
    const afterA = jsonLines(samples).length;
    assert.ok(afterA >= 1 && afterA < 12, `${afterA} of 12 records`);
    assert.equal(existsSync(join(runDir, '.lock')), false, 'lock released');
    assert.ok(existsSync(join(runDir, 'report.md')), 'report written after a graceful stop');
    const ends = () => jsonLines(join(runDir, 'sessions.jsonl')).filter((l) => l.event === 'end');
    assert.deepEqual(
      ends().map((e) => e.stopped),
      ['interrupted'],
    );

    // SIGTERM to npm only (a process manager stopping the script): npm passes it to its shell, which dies; the run sees
    // that the npm process that started it is gone and stops gracefully instead of running on unseen.
    const b = start();
    await until(
      () => jsonLines(join(runDir, 'sessions.jsonl')).filter((l) => l.event === 'start').length === 2,
      120_000,
      'the second session',
    );
    process.kill(b.pid!, 'SIGTERM');
    await new Promise((r) => b.once('exit', r));
    await until(() => ends().length === 2, 30_000, 'the second session to end');
    assert.equal(ends()[1].stopped, 'interrupted');
    await until(() => !existsSync(join(runDir, '.lock')), 30_000, 'the lock to be released');
    const pid = jsonLines(join(runDir, 'sessions.jsonl')).filter((l) => l.event === 'start')[1].pid as number;
    const gone = () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    await until(gone, 30_000, 'the run process to exit');
    const keys = jsonLines(samples).map((r) => `${r.length}|${r.sample_index}`);
    assert.equal(new Set(keys).size, keys.length, 'no record made twice');
    assert.ok(keys.length < 12);
  },
);
