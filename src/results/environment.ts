/** What a run ran on: written to environment.json and shown in the report. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BackendInfo } from '../engine/backends.ts';

/** The backend, with the precision startBackend resolved (src/run/model-session.ts). */
type EngineInfo = BackendInfo & { precision?: string; precisionCompute?: string };
import { PROJECT_ROOT } from '../paths/index.ts';

function version(pkg: string): string | null {
  try {
    return JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

export function describeEnvironment(backend: EngineInfo): Record<string, unknown> {
  return {
    backend: backend.name,
    backend_detail: backend.detail,
    precision: backend.precision ?? 'float32',
    precision_compute: backend.precisionCompute ?? 'native',
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model?.trim() ?? null,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    onnxruntime: version('onnxruntime-node'),
    harness_commit: gitCommit(),
  };
}
