/**
 * Hugging Face `tokenizer.json` + `tokenizer_config.json` through @huggingface/tokenizers (pure TS, offline), giving
 * the ids transformers' AutoTokenizer gives (test/tokenizer/real-tokenizers.test.ts checks real models' tokenizers).
 * Folders that have only GPT-2-style `vocab.json` + `merges.txt` (older hub snapshots) are read too.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { readJsonObject } from '../files.ts';
import { hubNoExist } from '../paths/hub-cache.ts';
import type { TextTokenizer } from './text-tokenizer.ts';

type Json = Record<string, any>;

/**
 * transformers (v5) rebuilds the pipeline of these tokenizer classes in their constructors: it keeps tokenizer.json's
 * vocabulary, merges, added tokens and post-processor, and sets the normalizer, pre-tokenizer and decoder itself
 * (e.g. Llama-2's files carry a legacy `Prepend("▁")` normalizer, which prepends even to a text that starts with a
 * space; transformers uses a Metaspace pre-tokenizer, which does not). Mirrored here so the ids are the same.
 */
function asTransformersBuildsIt(json: Json, tokenizerClass: string | undefined, config: Json): Json {
  const cls = tokenizerClass?.replace(/Fast$/, '');
  if (cls === 'LlamaTokenizer' || cls === 'CodeLlamaTokenizer') {
    // models/llama/tokenization_llama.py: Metaspace(prepend_scheme=_get_prepend_scheme(add_prefix_space, legacy))
    const addPrefixSpace = config.add_prefix_space ?? true;
    const legacy = config.legacy ?? false;
    const prependScheme = !addPrefixSpace ? 'never' : legacy ? 'always' : 'first';
    const decoders: Json[] = [
      { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
      { type: 'ByteFallback' },
      { type: 'Fuse' },
    ];
    if (addPrefixSpace) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
    return {
      ...json,
      model: { ...json.model, fuse_unk: true, byte_fallback: true },
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: prependScheme, split: false },
      decoder: { type: 'Sequence', decoders },
    };
  }
  if (cls === 'GPT2Tokenizer' || cls === 'GPTNeoXTokenizer') {
    // models/gpt2/tokenization_gpt2.py, models/gpt_neox/tokenization_gpt_neox.py (which adds NFC)
    return {
      ...json,
      normalizer: cls === 'GPTNeoXTokenizer' ? { type: 'NFC' } : null,
      pre_tokenizer: {
        type: 'ByteLevel',
        add_prefix_space: config.add_prefix_space ?? false,
        trim_offsets: true,
        use_regex: true,
      },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    };
  }
  return json;
}

/** The tokenizer class transformers picks: tokenizer_config's, else the one its model_type maps to (GPT-2, Pythia). */
function tokenizerClassOf(dir: string, config: Json): string | undefined {
  if (typeof config.tokenizer_class === 'string') return config.tokenizer_class;
  const modelConfig = join(dir, 'config.json');
  if (!existsSync(modelConfig)) return undefined;
  const type = readJsonObject(modelConfig, 'model config').model_type;
  return ({ gpt2: 'GPT2Tokenizer', gpt_neox: 'GPTNeoXTokenizer' } as Record<string, string>)[String(type)];
}

/** A byte-level BPE tokenizer.json from GPT-2-style vocab.json + merges.txt, as transformers' GPT2Tokenizer makes it */
function fromVocabAndMerges(dir: string, config: Json): Json {
  const vocab = readJsonObject(join(dir, 'vocab.json'), 'tokenizer vocabulary');
  const merges = readFileSync(join(dir, 'merges.txt'), 'utf8')
    .split('\n')
    .filter((line, i) => line.trim() !== '' && !(i === 0 && line.startsWith('#version')));
  const special = new Set(['<|endoftext|>']);
  for (const k of ['unk_token', 'bos_token', 'eos_token', 'pad_token']) {
    if (typeof config[k] === 'string') special.add(config[k]);
  }
  const added = [...special]
    .filter((t) => typeof vocab[t] === 'number')
    .map((content) => ({
      id: vocab[content],
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

export class HfTokenizer implements TextTokenizer {
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly fingerprint: string;

  private constructor(
    private readonly tok: Tokenizer,
    json: string,
    config: Record<string, unknown>,
  ) {
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
    const cfgPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(cfgPath) ? readJsonObject(cfgPath, 'tokenizer config') : {};
    let parsed: Json;
    let json: string;
    if (existsSync(jsonPath)) {
      parsed = readJsonObject(jsonPath, 'tokenizer');
      json = readFileSync(jsonPath, 'utf8');
    } else if (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) {
      parsed = fromVocabAndMerges(dir, config);
      json = JSON.stringify(parsed);
    } else {
      const marker = hubNoExist(dir, 'tokenizer.json');
      if (marker) {
        throw new Error(
          `${dir} has no tokenizer.json: the hub repo has none at this revision (${marker}); ` +
            'pin a revision that has one (--model org/name@<revision>) or copy the tokenizer.json of the same model ' +
            'into a local folder',
        );
      }
      throw new Error(
        `${dir} has no tokenizer.json; copy the model's tokenizer.json (and tokenizer_config.json) ` +
          'into that folder',
      );
    }
    const cls = tokenizerClassOf(dir, config);
    const adapted = asTransformersBuildsIt(parsed, cls, config);
    // transformers ignores clean_up_tokenization_spaces for BPE tokenizers (it would strip spaces before punctuation).
    const runConfig = adapted.model?.type === 'BPE' ? { ...config, clean_up_tokenization_spaces: false } : config;
    try {
      // The fingerprint hashes the files as given plus the class that reinterprets them.
      return new HfTokenizer(new Tokenizer(adapted, runConfig), json + (adapted === parsed ? '' : `\n${cls}`), config);
    } catch (e) {
      // The library's own message ("text is not iterable", "Cannot read properties of undefined") names no file.
      throw new Error(
        `tokenizer ${jsonPath} is not a usable Hugging Face tokenizer.json (${(e as Error).message}); restore the original file`,
      );
    }
  }

  encode(text: string): number[] {
    return this.tok.encode(text).ids;
  }

  decode(ids: number[]): string {
    if (ids.length === 0) return ''; // the library refuses an empty list
    return this.tok.decode(ids, { skip_special_tokens: true });
  }
}
