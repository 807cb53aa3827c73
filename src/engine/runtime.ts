/**
 * ONNX Runtime behind the engine: execution-provider choice and sessions over graphs built in memory whose weights
 * stay in the model's files (external data). `auto` takes CUDA when its provider loads (a user install with
 * ONNXRUNTIME_NODE_INSTALL=cuda12 and internet), else WebGPU with a hardware adapter (never a software one), else the
 * native CPU engine. The backend names themselves are in the leaf module backends.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type * as OrtTypes from 'onnxruntime-node';
import { BACKENDS, type BackendChoice } from './backends.ts';
import { Graph } from './graph/graph.ts';
import { add } from './graph/ops.ts';
import { serialize } from './graph/onnx.ts';

export type Ort = typeof OrtTypes;
export type OrtTensor = OrtTypes.Tensor;

let ortModule: Ort | null = null;

/** onnxruntime-node, loaded on first use (config validation and reports never load it). */
export async function loadOrt(): Promise<Ort> {
  if (!ortModule) {
    const m = (await import('onnxruntime-node')) as unknown as Ort & { default?: Ort };
    ortModule = (m.InferenceSession ? m : m.default) as Ort;
  }
  return ortModule;
}

export interface Runtime {
  /** cpu | webgpu | cuda */
  name: Exclude<BackendChoice, 'auto'>;
  detail: string;
  ort: Ort;
  threads: number;
  /** ONNX Runtime execution providers, in order. */
  providers: string[];
  /** WebGPU on a software Vulkan adapter (SwiftShader, lavapipe). */
  software?: boolean;
}

let active: Runtime | null = null;

export function activeRuntime(): Runtime | null {
  return active;
}

/** Threads for the CPU engine: CRAM_THREADS, else every core. */
function threadCount(): number {
  const env = Number(process.env.CRAM_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

/** A two-input Add: enough for a provider to prove it can build and run a session. */
function probeGraph(): Uint8Array {
  const g = new Graph('probe');
  const a = g.input('a', 'float32', [2]);
  const b = g.input('b', 'float32', [2]);
  g.output(add(a, b), 'y');
  return serialize(g);
}

async function probe(ort: Ort, providers: string[]): Promise<void> {
  const session = await ort.InferenceSession.create(probeGraph(), {
    executionProviders: providers,
    logSeverityLevel: 3,
  });
  const t = new ort.Tensor('float32', new Float32Array([1, 2]), [2]);
  const r = await session.run({ a: t, b: t });
  const y = r.y.data as Float32Array;
  await session.release();
  if (y[0] !== 2 || y[1] !== 4) throw new Error(`provider ${providers[0]} computed 1+1 = ${y[0]}`);
}

const DESCRIBE: Record<Exclude<BackendChoice, 'auto'>, string> = {
  cpu: 'ONNX Runtime CPU execution provider (native, AVX2/AVX-512 kernels)',
  webgpu: 'ONNX Runtime WebGPU execution provider (Dawn inside onnxruntime-node)',
  cuda: 'ONNX Runtime CUDA execution provider',
};

/** The folder of onnxruntime-node's native binaries for this platform. */
function ortBinaryDir(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/** Software Vulkan drivers, by manifest or library name: SwiftShader, Mesa's lavapipe (llvmpipe), the loader's mock. */
const SOFTWARE_VULKAN = /swiftshader|lvp|lavapipe|llvmpipe|softpipe|mock_icd/i;

export interface VulkanDriver {
  manifest: string;
  library: string;
  software: boolean;
}

/**
 * The Vulkan drivers (ICD manifests) the loader would offer Dawn, as the loader finds them: VK_DRIVER_FILES or
 * VK_ICD_FILENAMES (which replace the search), else the icd.d folders under XDG_CONFIG_DIRS, /etc, XDG_DATA_HOME and
 * XDG_DATA_DIRS; plus VK_ADD_DRIVER_FILES. Each is software or not by its manifest's and library's names. ONNX
 * Runtime does not expose the adapter Dawn picked, so this is how `auto` tells a software adapter from a GPU.
 */
export function vulkanDrivers(env: NodeJS.ProcessEnv = process.env): VulkanDriver[] {
  const list = (v: string | undefined) => (v ?? '').split(':').filter(Boolean);
  const jsonIn = (dir: string) => {
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(dir, f));
    } catch {
      return [];
    }
  };
  const explicit = list(env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES);
  let files = explicit.flatMap((f) => (f.endsWith('.json') ? [f] : jsonIn(f)));
  if (explicit.length === 0) {
    const home = env.HOME ?? '';
    const dirs = [
      ...list(env.XDG_CONFIG_DIRS || '/etc/xdg'),
      '/etc',
      env.XDG_DATA_HOME || join(home, '.local/share'),
      ...list(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share'),
    ];
    files = dirs.flatMap((d) => jsonIn(join(d, 'vulkan', 'icd.d')));
  }
  files.push(...list(env.VK_ADD_DRIVER_FILES).flatMap((f) => (f.endsWith('.json') ? [f] : jsonIn(f))));
  return [...new Set(files)]
    .filter((f) => existsSync(f))
    .map((manifest) => {
      let library = '';
      try {
        library = String(JSON.parse(readFileSync(manifest, 'utf8'))?.ICD?.library_path ?? '');
      } catch {
        /* an unreadable manifest is judged by its file name */
      }
      return {
        manifest,
        library,
        software: SOFTWARE_VULKAN.test(basename(manifest)) || SOFTWARE_VULKAN.test(basename(library)),
      };
    });
}

/**
 * Why `auto` must not take a provider, or need not even try it (its probe would only print native errors): CUDA's
 * provider library is not installed; on Linux, WebGPU (Dawn) has no Vulkan loader, no Vulkan driver, or only
 * software drivers (a CPU rendering WebGPU: tens of times slower than the CPU provider on the same cores).
 */
function missingPrerequisite(name: 'cuda' | 'webgpu'): string | null {
  if (name === 'cuda') {
    const dir = ortBinaryDir();
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    return dir && existsSync(join(dir, lib)) ? null : 'the CUDA provider is not installed';
  }
  if (process.platform !== 'linux') return null;
  const dirs = [
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
  ];
  if (!dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')))) return 'no Vulkan loader (libvulkan.so.1)';
  const drivers = vulkanDrivers();
  if (drivers.length === 0) return 'no Vulkan driver';
  if (drivers.every((d) => d.software)) {
    return `only a software Vulkan adapter (${drivers.map((d) => basename(d.manifest)).join(', ')}), slower than the CPU provider`;
  }
  return null;
}

/** Whether WebGPU here can only be a software adapter (every Vulkan driver the loader would offer is one). */
export function webgpuIsSoftware(): boolean {
  if (process.platform !== 'linux') return false;
  const drivers = vulkanDrivers();
  return drivers.length > 0 && drivers.every((d) => d.software);
}

/**
 * Dawn's Vulkan window-system code prints "error: XDG_RUNTIME_DIR is invalid or not set" when that folder is unset
 * or not a folder of ours; compute needs no window system, so a private empty folder is given before probing.
 */
function quietXdgRuntimeDir(): void {
  const dir = process.env.XDG_RUNTIME_DIR;
  try {
    if (dir && statSync(dir).isDirectory()) return;
  } catch {
    /* missing: made below */
  }
  process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'cram-xdg-'));
}

/** Progress notes only with CRAM_VERBOSE=1 (the doctor command's --verbose sets it). */
const verbose = () => process.env.CRAM_VERBOSE === '1';

/**
 * Starts the requested backend (idempotent for the same choice); a clear error when it cannot. `auto` never takes a
 * software WebGPU adapter and probes silently; `webgpu` asked for by name runs on one with a one-line notice.
 */
export async function initRuntime(choice: BackendChoice = 'auto'): Promise<Runtime> {
  if (!BACKENDS.includes(choice)) throw new Error(`unknown backend "${choice}"; choose one of ${BACKENDS.join(', ')}`);
  if (active && (choice === 'auto' || choice === active.name)) return active;
  const ort = await loadOrt();
  const order: Exclude<BackendChoice, 'auto'>[] = choice === 'auto' ? ['cuda', 'webgpu', 'cpu'] : [choice];
  const errors: string[] = [];
  for (const name of order) {
    const missing = choice === 'auto' && name !== 'cpu' ? missingPrerequisite(name) : null;
    if (missing) {
      errors.push(`${name}: ${missing}`);
      if (verbose()) process.stderr.write(`backend auto: not ${name}: ${missing}\n`);
      continue;
    }
    if (name === 'webgpu' && process.platform === 'linux') quietXdgRuntimeDir();
    try {
      await probe(ort, name === 'cpu' ? ['cpu'] : [name, 'cpu']);
      ort.env.logLevel = 'error';
      active = {
        name,
        detail: `${DESCRIBE[name]}, onnxruntime-node ${ort.env.versions?.node ?? ''}`.trim(),
        ort,
        threads: threadCount(),
        providers: name === 'cpu' ? ['cpu'] : [name, 'cpu'],
      };
      if (name === 'cpu') active.detail += `, ${active.threads} threads`;
      if (name === 'webgpu' && webgpuIsSoftware()) {
        active.software = true;
        active.detail += ', software Vulkan adapter';
        process.stderr.write(
          'note: webgpu runs on a software Vulkan adapter (no GPU driver found): slower than --backend cpu\n',
        );
      }
      if (errors.length > 0) active.detail += ` (auto passed over ${errors.join('; ')})`;
      return active;
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
      if (verbose()) process.stderr.write(`backend ${choice}: ${name} failed: ${errors.at(-1)}\n`);
    }
  }
  const hint =
    choice === 'cuda'
      ? ' (the CUDA provider is downloaded at install time: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci, with CUDA 12 and internet)'
      : choice === 'webgpu'
        ? ' (needs a GPU adapter: a Vulkan loader and driver on Linux)'
        : '';
  throw new Error(`backend ${choice} is not available here${hint}: ${errors.join('; ')}`);
}

/**
 * A session over serialized graph bytes whose external data lives in `weightsFolder` (the real folder of the weight
 * files: ONNX Runtime refuses external data reached through symlinks or "..").
 */
export async function createSession(
  rt: Runtime,
  bytes: Uint8Array,
  weightsFolder: string | null,
  opts: { profilePrefix?: string } = {},
): Promise<OrtTypes.InferenceSession> {
  const options: OrtTypes.InferenceSession.SessionOptions = {
    // ONNX Runtime's profiler (placement.ts reads it): every node's provider, output shapes and sizes.
    ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
    executionProviders: rt.providers,
    graphOptimizationLevel: 'all',
    intraOpNumThreads: rt.threads,
    interOpNumThreads: 1,
    // CRAM_ORT_VERBOSE=1: ONNX Runtime's verbose session log (node placements) on stderr; `cram doctor` reads it.
    logSeverityLevel: process.env.CRAM_ORT_VERBOSE === '1' ? 0 : 3,
  };
  const session: Record<string, string> = {
    // Pre-packing copies every weight once per way it is multiplied (forward and backward): twice the memory and a
    // slower start for no measurable gain on this step (CRAM_ORT_PREPACK=1 turns it back on).
    disable_prepacking: process.env.CRAM_ORT_PREPACK === '1' ? '0' : '1',
  };
  if (weightsFolder) session.model_external_initializers_file_folder_path = weightsFolder;
  options.extra = { session };
  return rt.ort.InferenceSession.create(bytes, options);
}
