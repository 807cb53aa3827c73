import { Option } from 'commander';
import { BACKENDS } from '../engine/backend.ts';

export const backendOption = () =>
  new Option('--backend <name>', 'ONNX Runtime execution provider: auto picks cuda (if its provider is installed), then webgpu (hardware adapter), then cpu')
    .choices([...BACKENDS])
    .default('auto');

export function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

export function positiveNumber(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}
