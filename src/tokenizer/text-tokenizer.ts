/** What the harness needs from a tokenizer: ids exactly as the model's own tokenizer makes them (BOS included). */
export interface TextTokenizer {
  /** Ids with the special tokens the model's tokenizer adds by default (e.g. BOS for Llama). */
  encode(text: string): number[];
  /** Text for ids, special tokens skipped. */
  decode(ids: number[]): string;
  /** The BOS id when the tokenizer prepends one, else null (Pythia-style tokenizers). */
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** A stable description of the tokenizer's files, hashed into vector files. */
  readonly fingerprint: string;
}
