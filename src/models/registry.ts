/**
 * Every supported architecture, one entry each: a new one is one file (its config reader and model class, side by
 * side) plus one line here. Loading and the reference tests iterate this list.
 */
import type { Architecture } from './causal-lm.ts';
import { ConfigError, type CommonConfig, type RawConfig } from './config.ts';
import { gpt2 } from './gpt2.ts';
import { gptNeox } from './gpt-neox.ts';
import { llama } from './llama.ts';
import { mamba } from './mamba.ts';
import { mamba2 } from './mamba2.ts';
import { opt } from './opt.ts';

export const ARCHITECTURES: Architecture<any>[] = [llama, gptNeox, gpt2, opt];
ARCHITECTURES.push(mamba, mamba2);

export function supportedModelTypes(): string[] {
  return ARCHITECTURES.flatMap((a) => a.modelTypes).sort();
}

export function architectureFor(raw: RawConfig, where: string): Architecture<CommonConfig> {
  const type = raw?.model_type;
  if (typeof type !== 'string') throw new ConfigError(`${where}: no "model_type" (is this a Hugging Face config.json?)`);
  const arch = ARCHITECTURES.find((a) => a.modelTypes.includes(type));
  if (!arch) throw new ConfigError(`${where}: model_type "${type}" is not supported; supported: ${supportedModelTypes().join(', ')}`);
  return arch;
}
