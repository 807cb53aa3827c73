/**
 * Prompts with memories in them: `[mem-id-<n>]` placeholders are replaced by that memory's vectors (every segment's,
 * in order), and the text around them becomes token runs. Each non-empty text run is encoded as the tokenizer does
 * by default (BOS first where it adds one): after a memory that is the BOS each segment's vectors were trained to
 * precede, so `[mem-id-1]Then he said` gives exactly embedWithMemory(memory, 'Then he said'). A prompt that ends
 * with a placeholder gets the empty text's encoding (BOS) after it, like embedWithMemory(memory, '').
 */
import type { InputPart } from '../cram/generate.ts';
import type { MemoryFile } from '../compress/memory-file.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';

export type PromptPiece = { text: string } | { memory: number; id: string };

const PLACEHOLDER = /\[(mem-id-(\d{1,15}))\]/g;

export function parsePrompt(prompt: string): PromptPiece[] {
  const pieces: PromptPiece[] = [];
  let last = 0;
  for (const m of prompt.matchAll(PLACEHOLDER)) {
    if (m.index! > last) pieces.push({ text: prompt.slice(last, m.index) });
    pieces.push({ memory: Number(m[2]), id: m[1] });
    last = m.index! + m[0].length;
  }
  if (last < prompt.length) pieces.push({ text: prompt.slice(last) });
  if (pieces.length > 0 && 'memory' in pieces[pieces.length - 1]) pieces.push({ text: '' });
  return pieces;
}

/** Input runs for the pieces; `memories` holds every referenced memory's file. */
export function promptParts(pieces: PromptPiece[], memories: Map<number, MemoryFile>, tok: TextTokenizer): InputPart[] {
  const parts: InputPart[] = [];
  pieces.forEach((p, i) => {
    if ('memory' in p) {
      for (const s of memories.get(p.memory)!.segments) parts.push({ vectors: s.vectors });
    } else if (p.text !== '' || i === pieces.length - 1) {
      const ids = tok.encode(p.text);
      if (ids.length > 0) parts.push({ ids });
    }
  });
  return parts;
}

/** Positions the parts take: vectors and tokens. */
export function partSizes(parts: InputPart[], d: number): { vectors: number; tokens: number } {
  let vectors = 0;
  let tokens = 0;
  for (const p of parts) {
    if ('vectors' in p) vectors += p.vectors.length / d;
    else tokens += p.ids.length;
  }
  return { vectors, tokens };
}

/** Runs at most `concurrency` tasks at once with at most `maxWaiting` waiting; beyond that, null (the caller's 429). */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly concurrency: number, readonly maxWaiting: number) {}

  get queued(): number { return this.waiting.length; }

  async run<T>(task: () => Promise<T>): Promise<{ value: T } | null> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) return null;
      // The finishing task hands its slot over: `running` already counts this one when it wakes.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return { value: await task() };
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
