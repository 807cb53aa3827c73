/**
 * Every supported architecture, one entry each: a new one is one file (its config reader and model class, side by
 * side) plus one line here. Loading and the reference tests iterate this list.
 */
import type { Architecture } from './causal-lm.ts';
import { ModelConfigError, type CommonConfig, type RawConfig } from './config.ts';
import { checkConfigLimits } from './config-limits.ts';
import { gpt2 } from './gpt2.ts';
import { gptNeox } from './gpt-neox.ts';
import { llama } from './llama.ts';
import { mamba } from './mamba.ts';
import { mamba2 } from './mamba2.ts';
import { opt } from './opt.ts';
import { gemma2 } from './gemma2.ts';
import { gemma3Text } from './gemma3.ts';
import { mistral } from './mistral.ts';
import { olmo } from './olmo.ts';
import { olmo2 } from './olmo2.ts';
import { phi3 } from './phi3.ts';
import { qwen2 } from './qwen2.ts';
import { qwen3 } from './qwen3.ts';
import { smollm3 } from './smollm3.ts';

export const ARCHITECTURES: Architecture<any>[] = [
  llama,
  gptNeox,
  gpt2,
  opt,
  olmo,
  olmo2,
  qwen2,
  qwen3,
  mistral,
  smollm3,
  phi3,
  gemma2,
  gemma3Text,
  mamba,
  mamba2,
];

export function supportedModelTypes(): string[] {
  return ARCHITECTURES.flatMap((a) => a.modelTypes).sort();
}

export function architectureFor(raw: RawConfig, where: string): Architecture<CommonConfig> {
  const type = raw?.model_type;
  if (typeof type !== 'string')
    throw new ModelConfigError(`${where}: no "model_type" (is this a Hugging Face config.json?)`);
  const arch = ARCHITECTURES.find((a) => a.modelTypes.includes(type));
  if (!arch)
    throw new ModelConfigError(
      `${where}: model_type "${type}" is not supported; supported: ${supportedModelTypes().join(', ')}`,
    );
  checkConfigLimits(raw, where); // sizes bounded before any reader sizes anything from them
  return arch;
}
