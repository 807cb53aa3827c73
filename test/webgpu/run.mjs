#!/usr/bin/env node
// `npm run test:webgpu`: the webgpu test set (test/webgpu/*.test.ts) on a software Vulkan adapter, with the adapter's
// environment set for these tests only (the rest of the suite never sees it): Debian's chromium package ships
// SwiftShader's Vulkan driver and a Vulkan loader beside it. VK_ICD_FILENAMES points the loader at SwiftShader only,
// LD_LIBRARY_PATH lets Dawn find chromium's libvulkan.so.1 when the system has none, and XDG_RUNTIME_DIR is a fresh
// private folder (Vulkan's window-system code complains without one). CRAM_WEBGPU_ICD names another driver manifest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const candidates = [
  process.env.CRAM_WEBGPU_ICD,
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
].filter(Boolean);
const icd = candidates.find((f) => existsSync(f));
const xdg = mkdtempSync(join(tmpdir(), 'cram-webgpu-xdg-'));
const env = { ...process.env, CRAM_WEBGPU_SUITE: '1', XDG_RUNTIME_DIR: xdg };
if (icd) {
  env.VK_ICD_FILENAMES = icd;
  env.CRAM_WEBGPU_ICD = icd;
  env.LD_LIBRARY_PATH = [dirname(icd), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => join('test', 'webgpu', f));
const args = ['--import', 'tsx', '--test', '--test-concurrency=1', ...process.argv.slice(2), ...files];
const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
rmSync(xdg, { recursive: true, force: true });
process.exit(r.status ?? 1);
