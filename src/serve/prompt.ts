/**
 * Prompts with memories in them: `[mem-id-<n>]` placeholders are replaced by that memory's vectors (every segment's,
 * in order), and the text around them becomes token runs. Each non-empty text run is encoded as the tokenizer does
 * by default (BOS first where it adds one): after a memory that is the BOS each segment's vectors were trained to
 * precede, so `[mem-id-1]Then he said` gives exactly embedWithMemory(memory, 'Then he said'). A prompt that ends
 * with a placeholder gets the empty text's encoding (BOS) after it, like embedWithMemory(memory, '').
 *
 * Layouts (checkLayout): a memory's vectors were trained at the very start of the input, as one sequence in front of
 * its text, so only that layout reproduces the text: one placeholder opening the prompt, for a memory crammed as one
 * segment. A placeholder after other text, two memories side by side, or a memory crammed in several segments put the
 * vectors where they were never trained and give unrelated text: they are refused (422 unsupported_layout). A
 * session's context holds one memory, opening it (its compressions merge the old memory's text with newer messages,
 * db.ts), so there only a session from before merging meets this refusal.
 */
import type { InputPart } from '../cram/generate.ts';
import type { MemoryFile } from '../compress/memory-file.ts';
import type { TextTokenizer } from '../tokenizer/text-tokenizer.ts';
import { MAX_ID_DIGITS, parseMemoryId } from './db.ts';

export type PromptPiece = { text: string } | { memory: number; id: string };

/** Anything in square brackets that starts like a placeholder, in any case: each must then be a valid one. */
const PLACEHOLDER_LIKE = /\[\s*(mem[-_ ]?id[^\]]*)\]/gi;

/** A malformed placeholder or a layout that cannot work; `status`/`code` are the HTTP answer. */
export class PromptError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function parsePrompt(prompt: string): PromptPiece[] {
  const pieces: PromptPiece[] = [];
  let last = 0;
  for (const m of prompt.matchAll(PLACEHOLDER_LIKE)) {
    const n = parseMemoryId(m[1]);
    if (n === null || m[0] !== `[${m[1]}]`) {
      throw new PromptError(
        400,
        'bad_id',
        `${JSON.stringify(m[0].slice(0, 40))} is not a valid placeholder: ` +
          `write [mem-id-<n>] in lower case, n as POST /v1/memories returned it (no leading zeros, at most ${MAX_ID_DIGITS} digits)`,
      );
    }
    if (m.index! > last) pieces.push({ text: prompt.slice(last, m.index) });
    pieces.push({ memory: n, id: m[1] });
    last = m.index! + m[0].length;
  }
  if (last < prompt.length) pieces.push({ text: prompt.slice(last) });
  if (pieces.length > 0 && 'memory' in pieces[pieces.length - 1]) pieces.push({ text: '' });
  return pieces;
}

export const LAYOUT_HELP =
  'the layout that works: one [mem-id-N] at the very start of the prompt, then your text ' +
  "(the memory's opening words regenerate the rest of it); for a memory after other text, " +
  'put its text itself in the prompt';

/** Refuses layouts whose vectors sit where they were not trained (see the header). */
export function checkLayout(
  pieces: PromptPiece[],
  memories: Map<number, MemoryFile>,
  where = 'the prompt',
  /** Why a memory stored in segments could not be one sequence (its stats' one_sequence_error), by memory. */
  segmentedBecause: Map<number, string> = new Map(),
): void {
  type Placed = { p: { memory: number; id: string }; i: number };
  const mems = pieces.map((p, i) => ({ p, i })).filter((x): x is Placed => 'memory' in x.p);
  if (mems.length === 0) return;
  if (mems.length > 1) {
    const ids = mems.map((m) => m.p.id).join(', ');
    throw new PromptError(
      422,
      'unsupported_layout',
      `${where} holds ${mems.length} memory placeholders (${ids}); ` +
        "a memory's vectors reproduce its text only when nothing comes before them, so only one memory per prompt works: " +
        LAYOUT_HELP,
    );
  }
  const [{ p, i }] = mems;
  if (pieces.slice(0, i).some((x) => 'text' in x && x.text !== '')) {
    throw new PromptError(
      422,
      'unsupported_layout',
      `[${p.id}] comes after other text in ${where}; ` +
        `its vectors were trained with nothing before them and would give unrelated text there: ${LAYOUT_HELP}`,
    );
  }
  const mf = memories.get(p.memory)!;
  const because = segmentedBecause.get(p.memory);
  if (mf.segments.length > 1 && because !== undefined) {
    throw new PromptError(
      422,
      'unsupported_layout',
      `${p.id} is stored in ${mf.segments.length} separate segments, whose vectors side by side reproduce nothing, ` +
        `because it could not be compressed as one sequence on this model: ${because}. ` +
        `It comes back whole from GET /v1/memories/${p.id}/text; put that text in the prompt instead`,
    );
  }
  if (mf.segments.length > 1) {
    throw new PromptError(
      422,
      'unsupported_layout',
      `${p.id} was compressed in ${mf.segments.length} separate segments ` +
        '(--segment-tokens), whose vectors side by side reproduce nothing; only a memory compressed as one sequence ' +
        "(the server's default) can open a prompt. " +
        'Compress the text again on a server with the default --segment-tokens, or put the text itself in the prompt',
    );
  }
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

/**
 * Runs at most `concurrency` tasks at once with at most `maxWaiting` waiting; beyond that, null (the caller's 429).
 * It times its own tasks, so that a refusal can say how long the wait would be (retryAfterSeconds).
 */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Mean seconds per task, smoothed (null until one finished). */
  secondsPerTask: number | null = null;

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  /** Seconds until a new task could start: the tasks running and waiting, at the measured time per task. */
  retryAfterSeconds(): number {
    const per = this.secondsPerTask ?? 1;
    return Math.max(1, Math.ceil(((this.waiting.length + this.running) / this.concurrency) * per));
  }

  async run<T>(task: () => Promise<T>): Promise<{ value: T } | null> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) return null;
      // The finishing task hands its slot over: `running` already counts this one when it wakes.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    const t0 = performance.now();
    try {
      return { value: await task() };
    } finally {
      const secs = (performance.now() - t0) / 1000;
      this.secondsPerTask = this.secondsPerTask === null ? secs : 0.7 * this.secondsPerTask + 0.3 * secs;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
