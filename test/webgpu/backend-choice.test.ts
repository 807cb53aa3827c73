/**
 * `auto` never picks a software WebGPU adapter and probes silently; `--backend webgpu` runs on one with a one-line
 * notice. The driver classification is checked on made-up manifests; the choices in child processes that see the
 * software adapter `npm run test:webgpu` set up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vulkanDrivers } from '../../src/engine/runtime.ts';
import { webgpuOrSkip } from './adapter.ts';

test('Vulkan drivers are told apart by manifest and library name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cram-icd-'));
  try {
    const icd = (file: string, lib: string) => {
      writeFileSync(
        join(dir, file),
        JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.3.0' } }),
      );
      return join(dir, file);
    };
    const swift = icd('vk_swiftshader_icd.json', './libvk_swiftshader.so');
    const lvp = icd('lvp_icd.x86_64.json', '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
    const nvidia = icd('nvidia_icd.json', 'libGLX_nvidia.so.0');
    const radeon = icd('radeon_icd.x86_64.json', '/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so');
    const soft = (env: NodeJS.ProcessEnv) => vulkanDrivers(env).map((d) => d.software);
    assert.deepEqual(soft({ VK_ICD_FILENAMES: `${swift}:${lvp}` }), [true, true]);
    assert.deepEqual(soft({ VK_DRIVER_FILES: `${nvidia}:${radeon}` }), [false, false]);
    // VK_DRIVER_FILES wins over VK_ICD_FILENAMES, a folder lists its manifests, VK_ADD_DRIVER_FILES adds.
    assert.deepEqual(soft({ VK_DRIVER_FILES: nvidia, VK_ICD_FILENAMES: swift }), [false]);
    assert.equal(vulkanDrivers({ VK_ICD_FILENAMES: dir }).length, 4);
    assert.deepEqual(soft({ VK_ICD_FILENAMES: swift, VK_ADD_DRIVER_FILES: nvidia }), [true, false]);
    assert.deepEqual(soft({ VK_ICD_FILENAMES: join(dir, 'missing.json') }), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const rt = await webgpuOrSkip();
if (rt) {
  const choose = (backend: string) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { initRuntime } = await import(${JSON.stringify(new URL('../../src/engine/runtime.ts', import.meta.url).href)});` +
          `const rt = await initRuntime(${JSON.stringify(backend)}); process.stdout.write(rt.name + '|' + String(rt.software));`,
      ],
      { encoding: 'utf8', env: { ...process.env, CRAM_VERBOSE: '' } },
    );

  test('with only a software adapter visible, auto resolves to cpu and prints nothing', () => {
    assert.equal(rt.software, true, 'the suite runs on a software adapter');
    const r = choose('auto');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'cpu|undefined');
    assert.equal(r.stderr, '', 'auto printed something');
  });

  test('--backend webgpu runs on the software adapter and says so in one line', () => {
    const r = choose('webgpu');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'webgpu|true');
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /software Vulkan adapter/);
  });
}
