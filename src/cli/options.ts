import { Option } from 'commander';
import { BACKENDS } from '../engine/backend.ts';

export const backendOption = () =>
  new Option('--backend <name>', 'tensor backend: auto picks webgpu, then tensorflow (tfjs-node), then wasm, then cpu')
    .choices([...BACKENDS])
    .default('auto');
