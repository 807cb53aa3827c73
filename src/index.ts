/** The harness as a library: models, the cramming engine, metrics, and the context compressor. */
export { initRuntime as initBackend } from './engine/runtime.ts';
export type { BackendChoice } from './engine/backends.ts';
export { loadModel, type LoadedModel } from './models/load.ts';
export { CompiledModel, openModel } from './cram/compiled-model.ts';
export { greedyGenerate, greedyGenerateMany, type InputPart } from './cram/generate.ts';
export type { CausalLM } from './models/causal-lm.ts';
export { cramAll, cramOne, PAPER_SETTINGS, type CramJob, type CramOutcome, type CramSettings } from './cram/cram.ts';
export { regenerate, regenerateMany } from './cram/regenerate.ts';
export { verify } from './cram/verify.ts';
export { textMetrics, theoreticalCapacity } from './metrics/text-metrics.ts';
export { capacityTable } from './metrics/aggregate.ts';
export { compress, compressMany, decompress, embedWithMemory } from './compress/compress.ts';
export { readMemoryFile, writeMemoryFile, type MemoryFile } from './compress/memory-file.ts';
export { MemoryStore } from './compress/store.ts';
