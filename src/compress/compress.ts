/**
 * A text "compressor" built on cramming: the text's tokens are split into segments, each segment is crammed into
 * its own K trained vectors (all segments optimised together in one batch), and the vectors are kept in a `.mem`
 * file. Decompression regenerates each segment greedily from its vectors and checks the result's SHA-256.
 *
 * Segment i's ids are [given, t_a … t_b]: the given first token is BOS where the tokenizer uses one (so every segment
 * is an independent cramming problem and every text token is predicted); for tokenizers without BOS it is the token
 * just before the segment (the text's first token, stored in the file, for segment 0).
 */
import type { LoadedModel } from '../models/load.ts';
import { openModel, type CompiledModel } from '../cram/compiled-model.ts';
import type { InputPart } from '../cram/generate.ts';
import { cramAll, type CramOutcome } from '../cram/engine.ts';
import { cramFields, cramSettings } from '../config/settings.ts';
import { DEFAULTS } from './defaults.ts';
import { greedyGenerate } from '../cram/generate.ts';
import { regenerate } from '../cram/regenerate.ts';
import { idsSha256, sha256 } from '../cram/vector-file.ts';
import { MEMORY_FORMAT, MEMORY_FORMAT_VERSION, totalVectors, validateMemoryFile, type MemoryFile, type MemorySegment } from './memory-file.ts';

export { DEFAULTS } from './defaults.ts';

export class CompressError extends Error {}

export interface CompressProgress {
  phase: 'cram' | 'verify';
  /** 1-based: round r optimises the segments not yet exact, with K grown after each round. */
  round: number;
  segments: number;
  /** Segments reproduced exactly so far. */
  exact: number;
  /** Segments still optimising in this round (verify phase: segments being checked). */
  active: number;
  /** Segments of this round that have stopped optimising (solved or given up). */
  finished: number;
  /** Distinct K values of this round. */
  kValues: number[];
  /** Batched steps done in this round. */
  stepsDone: number;
  /** Mean teacher-forced accuracy of the segments still in the batch. */
  meanAccuracy: number;
}

/** A model opened on a backend (openModel). */
export type OpenModel = LoadedModel & { engine: CompiledModel };

export interface ModelOption {
  /** An opened model, or a bundled name / folder (opened here on the 'auto' backend). */
  model: OpenModel | string;
}

export interface CompressOptions extends ModelOption {
  /** Predicted tokens per segment (the last segments may be one shorter: lengths are balanced). */
  segmentTokens?: number;
  /** Starting K per segment = ceil(tokens / tokensPerVector). */
  tokensPerVector?: number;
  /** Optimisation steps per round at most. */
  maxSteps?: number;
  /** Stop a segment after this many steps without a better accuracy (then its K grows). */
  patience?: number;
  /** K of a failed segment is multiplied by this (at least +1) for the next round. */
  growth?: number;
  /** Largest K tried per segment (default: the segment's token count; capped by the model's positions). */
  maxMem?: number;
  lr?: number;
  seed?: number;
  onProgress?: (p: CompressProgress) => void;
}

export async function resolveModel(m: OpenModel | string): Promise<OpenModel> {
  if (typeof m !== 'string') return m;
  return openModel(m);
}

function tokenizerOf(loaded: LoadedModel) {
  if (!loaded.tokenizer) throw new CompressError(`model ${loaded.name} was loaded without its tokenizer`);
  return loaded.tokenizer;
}

/** Splits n items into ceil(n / size) runs whose lengths differ by at most one. */
function balancedLengths(n: number, size: number): number[] {
  if (n === 0) return [];
  const count = Math.ceil(n / size);
  const base = Math.floor(n / count);
  return Array.from({ length: count }, (_, i) => base + (i < n % count ? 1 : 0));
}

interface Plan {
  /** Text tokens, BOS not included. */
  textIds: number[];
  bos: number | null;
  segments: { ids: number[]; start: number }[];
}

function plan(ids: number[], bos: number | null, segmentTokens: number): Plan {
  const textIds = bos !== null && ids[0] === bos ? ids.slice(1) : ids;
  const useBos = bos !== null && ids[0] === bos;
  // Predicted stream: all text tokens with BOS; all but the first without.
  const predicted = useBos ? textIds : textIds.slice(1);
  const segments: Plan['segments'] = [];
  let pos = 0;
  for (const len of balancedLengths(predicted.length, segmentTokens)) {
    const given = useBos ? bos! : pos === 0 ? textIds[0] : predicted[pos - 1];
    segments.push({ ids: [given, ...predicted.slice(pos, pos + len)], start: pos });
    pos += len;
  }
  return { textIds, bos: useBos ? bos : null, segments };
}

function snippet(s: string, n = 40): string {
  const one = s.replace(/\s+/g, ' ');
  return JSON.stringify(one.length > n ? `${one.slice(0, n)}…` : one);
}

/** Compresses a text into a MemoryFile; throws CompressError when a segment cannot be reproduced exactly. */
export async function compress(text: string, options: CompressOptions): Promise<MemoryFile> {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<Omit<CompressOptions, 'maxMem' | 'onProgress'>> & CompressOptions;
  for (const [k, v] of [['segmentTokens', o.segmentTokens], ['maxSteps', o.maxSteps], ['patience', o.patience]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new CompressError(`${k} must be a positive integer, got ${v}`);
  }
  if (!(o.tokensPerVector > 0)) throw new CompressError(`tokensPerVector must be positive, got ${o.tokensPerVector}`);
  if (!(o.growth > 1)) throw new CompressError(`growth must be > 1, got ${o.growth}`);
  const t0 = performance.now();
  const loaded = await resolveModel(o.model);
  const tok = tokenizerOf(loaded);
  const ids = tok.encode(text);
  const back = tok.decode(ids);
  if (back !== text) {
    let i = 0;
    while (i < back.length && i < text.length && back[i] === text[i]) i++;
    throw new CompressError(`the ${loaded.name} tokenizer does not reproduce this text exactly (decode(encode(text)) differs from char ${i}: ` +
      `${snippet(text.slice(i, i + 20))} became ${snippet(back.slice(i, i + 20))}); only texts the tokenizer round-trips can be compressed losslessly`);
  }
  const p = plan(ids, tok.bosId, o.segmentTokens);
  const model = loaded.model;
  const maxMemCap = (n: number) => Math.max(1, Math.min(o.maxMem ?? n, model.maxPositions - n - 1));
  const settings = cramSettings(cramFields({ max_steps: o.maxSteps, patience: o.patience, optimizer: { lr: o.lr } }, 'compress',
    { max_steps: 'maxSteps (--max-steps)', patience: 'patience (--patience)', 'optimizer.lr': 'lr' }));
  const n = p.segments.length;
  const kOf = p.segments.map((s) => Math.min(maxMemCap(s.ids.length), Math.max(1, Math.ceil((s.ids.length - 1) / o.tokensPerVector))));
  const done: (Float32Array | null)[] = new Array(n).fill(null);
  let pending = p.segments.map((_, i) => i);
  let round = 0;
  let totalSteps = 0;
  let exact = 0;
  while (pending.length > 0) {
    round++;
    const kValues = [...new Set(pending.map((i) => kOf[i]))].sort((a, b) => a - b);
    const outcomes = new Map<number, CramOutcome>();
    const jobs = pending.map((i) => ({ key: `seg${i}`, ids: p.segments[i].ids, nMem: kOf[i], seed: `compress/${o.seed}/seg${i}/K${kOf[i]}` }));
    let roundSteps = 0;
    await cramAll(loaded.engine, jobs, settings, {
      onFinish: (out) => { outcomes.set(Number(out.key.slice(3)), out); },
      onStep: (pr) => {
        roundSteps++;
        o.onProgress?.({ phase: 'cram', round, segments: n, exact, active: pr.active, finished: pr.finished, kValues, stepsDone: roundSteps, meanAccuracy: pr.meanAccuracy });
      },
    });
    totalSteps += roundSteps;
    o.onProgress?.({ phase: 'verify', round, segments: n, exact, active: pending.length, finished: pending.length, kValues, stepsDone: roundSteps, meanAccuracy: 1 });
    const next: number[] = [];
    for (const i of pending) {
      const out = outcomes.get(i)!;
      const ids = p.segments[i].ids;
      const regen = out.bestAccuracy === 1 ? await regenerate(loaded.engine, out.memory, kOf[i], ids) : null;
      if (regen?.regenerated_exact) {
        done[i] = out.memory;
        exact++;
        continue;
      }
      const cap = maxMemCap(ids.length);
      if (kOf[i] >= cap) {
        const seg = p.segments[i];
        const segText = tok.decode(ids.slice(1));
        throw new CompressError(`segment ${i} (tokens ${seg.start}–${seg.start + ids.length - 2}, ${snippet(segText)}) was not reproduced exactly with K=${kOf[i]} ` +
          `vector(s), the limit: best teacher-forced accuracy ${out.bestAccuracy.toFixed(3)} after ${out.steps} steps` +
          `${regen ? `, greedy regeneration exact for ${regen.regenerated_prefix_tokens}/${ids.length - 1} tokens` : ''}; ` +
          'raise maxMem (--max-mem) or maxSteps (--max-steps), or use shorter segments (--segment-tokens)');
      }
      kOf[i] = Math.min(cap, Math.max(kOf[i] + 1, Math.ceil(kOf[i] * o.growth)));
      next.push(i);
    }
    pending = next;
  }
  const segments: MemorySegment[] = p.segments.map((s, i) => ({
    nMem: kOf[i], nTokens: s.ids.length - 1, idsSha256: idsSha256(s.ids), startsWithBos: p.bos !== null, firstToken: s.ids[0], vectors: done[i]!,
  }));
  const mf: MemoryFile = {
    format: MEMORY_FORMAT, version: MEMORY_FORMAT_VERSION, model: loaded.name, modelSha256: loaded.weightsSha256,
    tokenizerSha256: tok.fingerprint, embedDim: model.embedDim, nTokens: p.textIds.length, textChars: text.length,
    textSha256: sha256(text), segments,
    settings: {
      segment_tokens: o.segmentTokens, tokens_per_vector: o.tokensPerVector, max_steps: o.maxSteps, patience: o.patience,
      growth: o.growth, max_mem: o.maxMem ?? 'segment tokens', lr: o.lr, betas: `${settings.optimizer.beta1},${settings.optimizer.beta2}`, seed: o.seed,
      backend: loaded.engine.runtime.name,
    },
    stats: { rounds: round, batched_steps: totalSteps, seconds: Number(((performance.now() - t0) / 1000).toFixed(2)), vectors: 0 },
    created: new Date().toISOString(),
  };
  mf.stats.vectors = totalVectors(mf);
  validateMemoryFile(mf);
  return mf;
}

/** Refuses a file made for another model or tokenizer, naming both. */
export function checkModel(mf: MemoryFile, loaded: LoadedModel): void {
  if (mf.modelSha256 !== loaded.weightsSha256) {
    throw new CompressError(`this .mem file was made for model "${mf.model}" (weights ${mf.modelSha256.slice(0, 12)}…), ` +
      `not for "${loaded.name}" (weights ${loaded.weightsSha256.slice(0, 12)}…); decompress it with ${mf.model}`);
  }
  const tok = tokenizerOf(loaded);
  if (mf.tokenizerSha256 !== tok.fingerprint) {
    throw new CompressError(`this .mem file was made with the tokenizer of "${mf.model}" (${mf.tokenizerSha256.slice(0, 12)}…), ` +
      `but "${loaded.name}" has tokenizer ${tok.fingerprint.slice(0, 12)}…`);
  }
  if (mf.embedDim !== loaded.model.embedDim) {
    throw new CompressError(`this .mem file holds ${mf.embedDim}-dim vectors but "${loaded.name}" embeds in ${loaded.model.embedDim} dims`);
  }
  for (const [i, s] of mf.segments.entries()) {
    if (s.nMem + 1 + s.nTokens > loaded.model.maxPositions) {
      throw new CompressError(`segment ${i} needs ${s.nMem} vectors + ${s.nTokens + 1} tokens = ${s.nMem + 1 + s.nTokens} positions, ` +
        `but "${loaded.name}" takes ${loaded.model.maxPositions}: the file is corrupt or was not made by compress`);
    }
  }
}

export interface DecompressOptions extends ModelOption {
  onProgress?: (segmentsDone: number, segments: number) => void;
}

/** Regenerates the text; throws CompressError when a segment or the whole text does not hash to what was stored. */
export async function decompress(mf: MemoryFile, options: DecompressOptions): Promise<string> {
  validateMemoryFile(mf);
  const loaded = await resolveModel(options.model);
  checkModel(mf, loaded);
  const tok = tokenizerOf(loaded);
  const predicted: number[] = [];
  for (const [i, s] of mf.segments.entries()) {
    const given = s.startsWithBos || i === 0 ? s.firstToken : predicted[predicted.length - 1];
    if (s.startsWithBos && s.firstToken !== tok.bosId) {
      throw new CompressError(`segment ${i} starts with BOS id ${s.firstToken} but the ${loaded.name} tokenizer's BOS is ${tok.bosId}`);
    }
    const gen = await greedyGenerate(loaded.engine, { parts: [{ vectors: s.vectors }, { ids: [given] }], maxNew: s.nTokens });
    if (gen.length !== s.nTokens || idsSha256([given, ...gen]) !== s.idsSha256) {
      throw new CompressError(`segment ${i} did not regenerate the tokens it was made from (token hash mismatch; ` +
        `${gen.length}/${s.nTokens} tokens generated): the vectors are damaged, or this model/backend computes differently`);
    }
    predicted.push(...gen);
    options.onProgress?.(i + 1, mf.segments.length);
  }
  const bosLead = mf.segments[0]?.startsWithBos ?? true;
  const textIds = bosLead || mf.segments.length === 0 ? predicted : [mf.segments[0].firstToken, ...predicted];
  const text = tok.decode(textIds);
  const hash = sha256(text);
  if (hash !== mf.textSha256 || text.length !== mf.textChars) {
    throw new CompressError(`decompressed text does not match the stored SHA-256 (stored ${mf.textSha256.slice(0, 12)}…, got ${hash.slice(0, 12)}…; ` +
      `${text.length} chars, stored ${mf.textChars}): the file's metadata or vectors were altered`);
  }
  return text;
}

/**
 * The input for a prompt that follows a memory: every segment's vectors (in order), then the prompt's tokens (encoded
 * by the model's tokenizer, BOS included where it adds one, unless `bos: false`). Feed it to greedyGenerate (or the
 * objective) in place of the text the memory holds.
 */
export async function embedWithMemory(mf: MemoryFile, prompt: string | number[], options: ModelOption & { bos?: boolean }): Promise<InputPart[]> {
  validateMemoryFile(mf);
  const loaded = await resolveModel(options.model);
  checkModel(mf, loaded);
  const tok = tokenizerOf(loaded);
  let ids = typeof prompt === 'string' ? tok.encode(prompt) : prompt;
  if (options.bos === false && tok.bosId !== null && ids[0] === tok.bosId) ids = ids.slice(1);
  const parts: InputPart[] = mf.segments.map((s) => ({ vectors: s.vectors }));
  if (ids.length > 0) parts.push({ ids });
  return parts;
}
