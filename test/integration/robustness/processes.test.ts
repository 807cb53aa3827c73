/**
 * Processes (issue 26, item 7): a run started by npm stops gracefully when npm is killed with SIGKILL, even when a
 * shell between npm and the run stays; a zombie's PID does not hold a run lock (a restart right after kill -9).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE, RunLock } from '../../../src/run/run-lock.ts';

const STOP = fileURLToPath(new URL('../../../src/run/stop.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'cram-processes-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (check()) return true;
  return check();
}

test('kill -9 of npm stops the run gracefully although the shell npm started stays', { timeout: 120_000 }, async () => {
  const child = join(work, 'child.ts');
  const out = join(work, 'child.out');
  writeFileSync(
    child,
    [
      `import { StopSignals } from ${JSON.stringify(STOP)};`,
      'const s = new StopSignals((m) => process.stderr.write(m), () => {}).install();',
      "process.stdout.write('ready\\n');",
      "setInterval(() => { if (s.stopRequested) { process.stdout.write('stopped\\n'); process.exit(0); } }, 100);",
      "setTimeout(() => { process.stdout.write('ran on\\n'); process.exit(2); }, 20_000);",
    ].join('\n'),
  );
  // A stand-in for npm (argv[0] "npm", as npm's process title shows): it runs the script through a shell that does
  // not exec it (so the run's parent is the shell, which outlives npm), and waits.
  const script =
    `require('node:child_process').spawn('sh', ['-c', ${JSON.stringify(`${process.execPath} --import tsx ${child} > ${out} 2>&1; true`)}],` +
    ' { stdio: "ignore" }); setInterval(() => {}, 1000);';
  const npm = spawn(process.execPath, ['-e', script], {
    argv0: 'npm',
    stdio: 'ignore',
    env: { ...process.env, npm_lifecycle_event: 'experiment' },
  });
  try {
    assert.ok(
      await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').includes('ready'), 60_000),
      'the run started',
    );
    npm.kill('SIGKILL');
    assert.ok(await waitFor(() => /stopped|ran on/.test(readFileSync(out, 'utf8')), 25_000));
    const text = readFileSync(out, 'utf8');
    assert.match(text, /the npm process that started this run is gone: stopping after the current step/);
    assert.match(text, /stopped/);
  } finally {
    npm.kill('SIGKILL');
  }
});

test(
  'a zombie PID does not hold a run lock: a restart right after kill -9 takes it over',
  { timeout: 60_000 },
  async () => {
    // `sleep 0 &` becomes a zombie: its parent execs into `sleep 30`, which never reaps it.
    const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((r) => sh.stdout!.once('data', (d) => r(String(d)))));
      assert.ok(await waitFor(() => /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), 10_000), 'a zombie');
      const dir = mkdtempSync(join(work, 'run-'));
      const now = new Date().toISOString();
      writeFileSync(
        join(dir, LOCK_FILE),
        JSON.stringify({ pid, host: hostname(), started: now, alive: now, command: 'cram experiment x' }) + '\n',
      );
      const notes: string[] = [];
      const lock = RunLock.acquire(dir, 'cram experiment x', (s) => notes.push(s));
      assert.match(notes.join('\n'), new RegExp(`process ${pid} is no longer running`));
      lock.release();
    } finally {
      sh.kill('SIGKILL');
      spawnSync('true');
    }
  },
);
