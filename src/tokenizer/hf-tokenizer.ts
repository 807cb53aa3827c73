/** Hugging Face `tokenizer.json` + `tokenizer_config.json` through @huggingface/tokenizers (pure TS, offline). */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { readJsonObject } from '../files.ts';
import type { TextTokenizer } from './text-tokenizer.ts';

export class HfTokenizer implements TextTokenizer {
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly fingerprint: string;

  private constructor(private readonly tok: Tokenizer, json: string, config: Record<string, unknown>) {
    this.fingerprint = createHash('sha256').update(json).update(JSON.stringify(config)).digest('hex');
    const probe = tok.encode('a').ids;
    const bare = tok.encode('a', { add_special_tokens: false }).ids;
    // The model's tokenizer adds BOS exactly when its default encoding has an extra leading token.
    this.bosId = probe.length > bare.length && probe[0] !== bare[0] ? probe[0] : null;
    const eos = typeof config.eos_token === 'string' ? tok.token_to_id(config.eos_token) : undefined;
    this.eosId = eos ?? null;
  }

  static fromDir(dir: string): HfTokenizer {
    const jsonPath = join(dir, 'tokenizer.json');
    if (!existsSync(jsonPath)) {
      throw new Error(`${dir} has no tokenizer.json; copy the model's tokenizer.json (and tokenizer_config.json) into that folder`);
    }
    const parsed = readJsonObject(jsonPath, 'tokenizer');
    const json = readFileSync(jsonPath, 'utf8');
    const cfgPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(cfgPath) ? readJsonObject(cfgPath, 'tokenizer config') : {};
    try {
      return new HfTokenizer(new Tokenizer(parsed, config), json, config);
    } catch (e) {
      // The library's own message ("text is not iterable", "Cannot read properties of undefined") names no file.
      throw new Error(`tokenizer ${jsonPath} is not a usable Hugging Face tokenizer.json (${(e as Error).message}); restore the original file`);
    }
  }

  encode(text: string): number[] {
    return this.tok.encode(text).ids;
  }

  decode(ids: number[]): string {
    return this.tok.decode(ids, { skip_special_tokens: true });
  }
}
