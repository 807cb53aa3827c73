import { Option } from 'commander';
import { BACKENDS } from '../engine/backends.ts';
import { TEXT_ENCODINGS } from '../files.ts';
import { PRECISIONS } from '../engine/precision.ts';

export const backendOption = () =>
  new Option(
    '--backend <name>',
    'ONNX Runtime execution provider: auto picks cuda (if its provider is installed), then webgpu (hardware adapter), then cpu',
  )
    .choices([...BACKENDS])
    .default('auto');

export const precisionOption = (fallback = 'float32') =>
  new Option(
    '--precision <type>',
    'precision of the matrix products, as torch.autocast (norms, softmax, loss, vectors and AdamW stay float32)',
  )
    .choices([...PRECISIONS])
    .default(fallback);

export const encodingOption = () =>
  new Option('--encoding <name>', 'encoding of the text file: utf8 (default; anything else is refused) or latin1')
    .choices([...TEXT_ENCODINGS])
    .default('utf8');

export function positiveInt(v: string, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(
      `${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got "${v}"`,
    );
  return n;
}

export function positiveNumber(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

export function integer(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got "${v}"`);
  return n;
}

/** A flag's value as a number for schema validation (which then names the flag, the value and the bounds). */
export const asNumber = (v: string | undefined) => (v === undefined ? undefined : v.trim() === '' ? NaN : Number(v));
