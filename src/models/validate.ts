/**
 * Config and weights cross-checked at load (issue 26): every tensor the config implies is looked up with the shape it
 * implies, by building the model's graph once without running it (so each architecture's own code states the
 * shapes); the vocabulary must match the embedding and head rows; an explicitly untied head must exist; weights of
 * layers the config does not have are refused. Errors are one line naming the config file and the field.
 */
import { Graph } from '../engine/graph/graph.ts';
import type { CausalLM } from './causal-lm.ts';
import { ModelConfigError, type RawConfig } from './config.ts';
import { Sequence } from './sequence.ts';

/** Runs `fn`, recording the weight names it looks up. */
function lookups(model: CausalLM, fn: () => void): Set<string> {
  const w = model.weights;
  const used = new Set<string>();
  const original = w.get;
  w.get = function (this: typeof w, name: string, shape?: number[]) {
    used.add(name);
    return original.call(this, name, shape);
  } as typeof w.get;
  try {
    fn();
  } finally {
    delete (w as { get?: unknown }).get; // back to the prototype's method
  }
  return used;
}

const LAYER_INDEX = /(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\./;

/** Throws a ModelConfigError when the config and the weights of `model` disagree. `raw` is the config as written. */
export function crossCheckModel(model: CausalLM, raw: RawConfig, where: string): void {
  const c = model.config;
  const g = new Graph('cross-check');
  let embedNames = new Set<string>();
  let headNames = new Set<string>();
  try {
    embedNames = lookups(model, () => model.embed(g, g.input('ids', 'int64', ['B', 'N'])));
    const x = g.input('x', 'float32', ['B', 'T', model.embedDim]);
    lookups(model, () => model.hiddenStates(x, new Sequence(g, x)));
    headNames = lookups(model, () => model.head(g));
  } catch (e) {
    if (e instanceof ModelConfigError) throw e;
    throw new ModelConfigError(`${where} does not match its weights: ${(e as Error).message}`);
  }
  if (model.numEmbeddings !== c.vocabSize) {
    throw new ModelConfigError(
      `${where}: vocab_size ${c.vocabSize} but the embedding ${[...embedNames].join(', ')} has ${model.numEmbeddings} rows`,
    );
  }
  const shared = [...headNames].filter((n) => embedNames.has(n));
  if (raw.tie_word_embeddings === false && shared.length) {
    throw new ModelConfigError(
      `${where}: tie_word_embeddings is false but the weights have no lm_head.weight (the head would ` +
        `silently be the embedding ${shared[0]}); set tie_word_embeddings to true or add lm_head.weight`,
    );
  }
  for (const name of headNames) {
    const rows = model.weights.get(name).shape[0];
    if (model.weights.get(name).shape.length === 2 && rows !== c.vocabSize) {
      throw new ModelConfigError(`${where}: vocab_size ${c.vocabSize} but the head ${name} has ${rows} rows`);
    }
  }
  for (const name of model.weights.entries.keys()) {
    const m = LAYER_INDEX.exec(name);
    if (m && Number(m[1]) >= c.numLayers) {
      throw new ModelConfigError(
        `${where}: num_hidden_layers ${c.numLayers} but the weights hold layer ${m[1]} (${name})`,
      );
    }
  }
}
