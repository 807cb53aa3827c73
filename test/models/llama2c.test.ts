import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLlama2cCheckpoint, readLlama2cCheckpoint } from '../../src/models/llama2c.ts';
import { configureLlama } from '../../src/models/llama.ts';
import type { TensorMap } from '../../src/models/tensor-map.ts';
import { Llama2cTokenizer } from '../../src/tokenizer/llama2c-tokenizer.ts';

const FIXTURES = fileURLToPath(new URL('../../models/stories260K/', import.meta.url));
const CKPT = join(FIXTURES, 'stories260K.bin');
const TOK = join(FIXTURES, 'tok512.bin');

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'llama2c-test-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('stories260K: header, config and tensor shapes', () => {
  assert.equal(statSync(CKPT).size, 1056540);
  const { config, tensors, entries } = parseLlama2cCheckpoint(readFileSync(CKPT), CKPT);
  assert.deepEqual(
    readLlama2cCheckpoint(CKPT).entries.map((e) => [e.name, e.offset, e.length]),
    entries.map((e) => [e.name, e.offset, e.length]),
  );
  assert.deepEqual(
    { ...config },
    {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 64,
      intermediate_size: 172,
      num_hidden_layers: 5,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      head_dim: 8,
      vocab_size: 512,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      rope_interleaved: true,
      hidden_act: 'silu',
      attention_bias: false,
      mlp_bias: false,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
      torch_dtype: 'float32',
    },
  );
  const cfg = configureLlama(config, 'stories260K');
  assert.equal(cfg.ropeInterleaved, true);
  assert.equal(cfg.headDim, 8);
  assert.equal(cfg.tieWordEmbeddings, true);

  const expected = new Map<string, number[]>([
    ['model.embed_tokens.weight', [512, 64]],
    ['model.norm.weight', [64]],
  ]);
  for (let l = 0; l < 5; l++) {
    const p = `model.layers.${l}.`;
    expected.set(p + 'input_layernorm.weight', [64]);
    expected.set(p + 'self_attn.q_proj.weight', [64, 64]);
    expected.set(p + 'self_attn.k_proj.weight', [32, 64]);
    expected.set(p + 'self_attn.v_proj.weight', [32, 64]);
    expected.set(p + 'self_attn.o_proj.weight', [64, 64]);
    expected.set(p + 'post_attention_layernorm.weight', [64]);
    expected.set(p + 'mlp.gate_proj.weight', [172, 64]);
    expected.set(p + 'mlp.up_proj.weight', [172, 64]);
    expected.set(p + 'mlp.down_proj.weight', [64, 172]);
  }
  assert.equal(tensors.size, 47);
  assert.deepEqual([...tensors.keys()].sort(), [...expected.keys()].sort());
  assert.ok(!tensors.has('lm_head.weight'), 'tied classifier: no lm_head');
  let total = 0;
  for (const [name, t] of tensors) {
    assert.deepEqual(t.shape, expected.get(name), name);
    assert.ok(t.data instanceof Float32Array);
    assert.equal(
      t.data.length,
      t.shape.reduce((a, b) => a * b, 1),
      name,
    );
    assert.ok(t.data.every(Number.isFinite), `${name} has non-finite values`);
    total += t.data.length;
  }
  // header (28 bytes) + weights + two skipped rotary tables of 512 × 4 floats each = the file.
  assert.equal(28 + 4 * (total + 2 * 512 * 4), 1056540);

  // Spot-check offsets against the raw file: first embedding value, and the last value of model.norm.weight.
  const raw = readFileSync(CKPT);
  assert.equal(tensors.get('model.embed_tokens.weight')!.data[0], raw.readFloatLE(28));
  const normEnd = 28 + 4 * total; // model.norm.weight is the last weight before the rotary tables
  assert.equal(tensors.get('model.norm.weight')!.data[63], raw.readFloatLE(normEnd - 4));
  // RMSNorm gains are typically positive and O(1); a misaligned read would not look like this.
  const g = tensors.get('model.layers.0.input_layernorm.weight')!.data;
  assert.ok(g.reduce((a, b) => a + b, 0) / g.length > 0.1);
});

test('stories260K: a truncated or padded checkpoint gives a clear error', () => {
  const full = readFileSync(CKPT);
  withTmp((dir) => {
    const cut = join(dir, 'truncated.bin');
    writeFileSync(cut, full.subarray(0, full.length - 1000));
    assert.throws(
      () => readLlama2cCheckpoint(cut),
      (e: Error) => {
        assert.match(e.message, /truncated\.bin/);
        assert.match(e.message, /1055540 bytes but the header implies 1056540/);
        assert.match(e.message, /truncated/);
        assert.match(e.message, /freq_cis_imag/); // the last 1000 bytes are inside the second rotary table
        return true;
      },
    );
    const cutEarly = join(dir, 'cut-early.bin');
    writeFileSync(cutEarly, full.subarray(0, 5000));
    assert.throws(() => readLlama2cCheckpoint(cutEarly), /cut-early\.bin.*missing.*ends inside token_embedding_table/);
    const tiny = join(dir, 'tiny.bin');
    writeFileSync(tiny, full.subarray(0, 10));
    assert.throws(() => readLlama2cCheckpoint(tiny), /tiny\.bin: file is 10 bytes, too short/);
    const padded = join(dir, 'padded.bin');
    writeFileSync(padded, Buffer.concat([full, Buffer.alloc(8)]));
    assert.throws(() => readLlama2cCheckpoint(padded), /padded\.bin.*8 unexpected trailing bytes/);
    const bad = join(dir, 'bad-header.bin');
    const b = Buffer.from(full);
    b.writeInt32LE(7, 12); // n_heads = 7 does not divide dim = 64
    writeFileSync(bad, b);
    assert.throws(() => readLlama2cCheckpoint(bad), /bad-header\.bin: dim 64 is not divisible by n_heads 7/);
    // Negative vocab_size: an unshared classifier is expected after the rotary tables.
    const unshared = join(dir, 'unshared.bin');
    const u = Buffer.from(full);
    u.writeInt32LE(-512, 20);
    writeFileSync(unshared, u);
    assert.throws(() => readLlama2cCheckpoint(unshared), /131072 bytes missing/);
    const extra = Buffer.alloc(512 * 64 * 4);
    for (let i = 0; i < 512 * 64; i++) extra.writeFloatLE(i, i * 4);
    writeFileSync(unshared, Buffer.concat([u, extra]));
    const r = parseLlama2cCheckpoint(readFileSync(unshared), unshared);
    assert.equal(readLlama2cCheckpoint(unshared).config.tie_word_embeddings, false);
    assert.deepEqual(r.tensors.get('lm_head.weight')!.shape, [512, 64]);
    assert.equal(r.tensors.get('lm_head.weight')!.data[100], 100);
  });
  assert.throws(() => readLlama2cCheckpoint(join(FIXTURES, 'does-not-exist.bin')), /does-not-exist\.bin: cannot read/);
});

/** A direct port of run.c's quadratic encode loop, as an independent reference for the heap-based merge. */
function referenceEncode(vocab: string[], scores: number[], text: string, bos: boolean, eos: boolean): number[] {
  const lookup = (s: string) => vocab.indexOf(s);
  const toks: number[] = [];
  if (bos) toks.push(1);
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length) toks.push(lookup(' '));
  let buf: number[] = [];
  for (let c = 0; c < bytes.length; c++) {
    if ((bytes[c] & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[c]);
    if (((bytes[c + 1] ?? 0) & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = lookup(Buffer.from(buf).toString('latin1'));
    if (id !== -1) toks.push(id);
    else for (const b of buf) toks.push(b + 3);
    buf = [];
  }
  for (;;) {
    let bestScore = -1e10,
      bestId = -1,
      bestIdx = -1;
    for (let i = 0; i < toks.length - 1; i++) {
      const id = lookup(vocab[toks[i]] + vocab[toks[i + 1]]);
      if (id !== -1 && scores[id] > bestScore) {
        bestScore = scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    toks.splice(bestIdx, 2, bestId);
  }
  if (eos) toks.push(2);
  return toks;
}

function readVocab(): { vocab: string[]; scores: number[] } {
  const b = readFileSync(TOK);
  const vocab: string[] = [],
    scores: number[] = [];
  let o = 4;
  for (let i = 0; i < 512; i++) {
    scores.push(b.readFloatLE(o));
    const len = b.readInt32LE(o + 4);
    vocab.push(b.toString('latin1', o + 8, o + 8 + len));
    o += 8 + len;
  }
  return { vocab, scores };
}

test('tok512: encode matches run.c, decode restores the text', () => {
  const tok = Llama2cTokenizer.fromFile(TOK, 512);
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);

  const ids = tok.encode('Once upon a time', { bos: true });
  assert.equal(ids[0], 1);
  assert.ok(ids.length >= 3 && ids.length <= 8, `plausible length: ${ids}`);
  assert.ok(
    ids.slice(1).every((i) => i > 258),
    'ordinary words are merged tokens, not byte fallbacks',
  );
  assert.equal(tok.decode(ids), 'Once upon a time');
  assert.equal(tok.decodeToken(1, ids[1]), 'Once'); // leading space dropped after BOS
  assert.equal(tok.decodeToken(ids[1], ids[2]), ' upon');

  const lily = 'Once upon a time, there was a little girl named Lily.';
  const lilyIds = tok.encode(lily, { bos: true });
  assert.deepEqual(lilyIds, [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426]);
  assert.equal(tok.decode(lilyIds), lily);
  assert.deepEqual(tok.encode(lily, { bos: true, eos: true }), [...lilyIds, 2]);
  assert.deepEqual(tok.encode(lily), lilyIds.slice(1));
  // Without BOS in front, llama2.c keeps the dummy-prefix space; {prev: 1} treats the ids as following BOS.
  assert.equal(tok.decode(lilyIds.slice(1)), ' ' + lily);
  assert.equal(tok.decode(lilyIds.slice(1), { prev: 1 }), lily);
  assert.deepEqual(tok.encode(''), []);
  assert.deepEqual(tok.encode('', { bos: true, eos: true }), [1, 2]);

  const { vocab, scores } = readVocab();
  const samples = [
    lily,
    'Once upon a time',
    'café — naïve ☃',
    'Tom said, "I can\'t!"\nThe end.',
    'a\u{1F600}b  \t x',
    'ÀÉÎÕÜ ß ñ 中文 😀😀',
    'aaaaaaaaaaaaaaaaaaaa',
    '   leading and trailing   ',
    'It was a sunny day. The cat and the dog played in the park.',
  ];
  for (const s of samples) {
    const got = tok.encode(s, { bos: true, eos: true });
    assert.deepEqual(got, referenceEncode(vocab, scores, s, true, true), JSON.stringify(s));
    assert.equal(tok.decode(got), s, JSON.stringify(s));
  }
  // Random strings over a small alphabet that includes multi-byte characters.
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const alphabet = [...'abcdehilnorst ,.!?\nAEIT', 'é', '—', '☃', '😀', 'ñ'];
  for (let k = 0; k < 60; k++) {
    const s = Array.from(
      { length: 1 + Math.floor(rand() * 40) },
      () => alphabet[Math.floor(rand() * alphabet.length)],
    ).join('');
    const got = tok.encode(s, { bos: true });
    assert.deepEqual(got, referenceEncode(vocab, scores, s, true, false), JSON.stringify(s));
    assert.equal(tok.decode(got), s, JSON.stringify(s));
  }
});

test('tok512: byte fallback for characters outside the vocab', () => {
  const tok = Llama2cTokenizer.fromFile(TOK, 512);
  // U+2603 SNOWMAN is not in a 512-token TinyStories vocab: its UTF-8 bytes E2 98 83 become ids byte + 3.
  const ids = tok.encode('☃', { bos: true });
  assert.equal(ids.length, 5); // BOS, dummy-prefix " ", three byte tokens
  assert.deepEqual(ids.slice(-3), [0xe2 + 3, 0x98 + 3, 0x83 + 3]);
  assert.equal(tok.decode(ids), '☃');
  // One byte piece on its own is not valid UTF-8; as bytes it is exact.
  assert.deepEqual([...tok.decodeTokenBytes(ids[1], 0xe5)], [0xe2]);
  assert.equal(tok.decodeToken(ids[1], 0xe5), '\uFFFD');
  const mixed = 'naïve ☃ café';
  const mixedIds = tok.encode(mixed, { bos: true });
  assert.ok(mixedIds.includes(0xe5) && mixedIds.includes(0x9b) && mixedIds.includes(0x86));
  assert.equal(tok.decode(mixedIds), mixed);
  // An emoji: four bytes, all fallback.
  const emoji = tok.encode('😀');
  assert.deepEqual(
    emoji.slice(-4),
    [...Buffer.from('😀', 'utf8')].map((b) => b + 3),
  );
  assert.equal(tok.decode(emoji), ' 😀');
  assert.equal(tok.decode(emoji, { prev: 1 }), '😀');
});

test('tok512: bad files and ids give clear errors', () => {
  const full = readFileSync(TOK);
  withTmp((dir) => {
    const cut = join(dir, 'tok-cut.bin');
    writeFileSync(cut, full.subarray(0, full.length - 10));
    assert.throws(() => Llama2cTokenizer.fromFile(cut, 512), /tok-cut\.bin: .*truncated/);
  });
  assert.throws(() => Llama2cTokenizer.fromFile(TOK, 500), /tok512\.bin: .*bytes remain after 500 tokens/);
  assert.throws(() => Llama2cTokenizer.fromFile(TOK, 600), /tok512\.bin: .*token 512 of 600/);
  const tok = Llama2cTokenizer.fromFile(TOK, 512);
  assert.throws(() => tok.decode([1, 512]), /token id 512 is outside the vocab/);
});

/**
 * A plain-JS port of run.c's forward pass (interleaved RoPE, GQA, SwiGLU), run on the Hugging Face-named tensors.
 * If the name/layout mapping were wrong, greedy decoding would not produce a fluent TinyStories sentence.
 */
function greedy(tensors: TensorMap, prompt: number[], steps: number): number[] {
  const dim = 64,
    hidden = 172,
    nLayers = 5,
    nHeads = 8,
    nKv = 4,
    hs = 8,
    vocab = 512;
  const W = (n: string) => tensors.get(n)!.data;
  const matvec = (w: Float32Array, x: Float64Array, out: number, inn: number) => {
    const y = new Float64Array(out);
    for (let i = 0; i < out; i++) {
      let s = 0;
      for (let j = 0; j < inn; j++) s += w[i * inn + j] * x[j];
      y[i] = s;
    }
    return y;
  };
  const rms = (x: Float64Array, g: Float32Array) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const k = 1 / Math.sqrt(ss / x.length + 1e-5);
    return Float64Array.from(x, (v, i) => v * k * g[i]);
  };
  const kc: Float64Array[][] = Array.from({ length: nLayers }, () => []);
  const vc: Float64Array[][] = Array.from({ length: nLayers }, () => []);
  const out = [...prompt];
  for (let pos = 0; pos < prompt.length + steps - 1; pos++) {
    const token = out[pos];
    let x = Float64Array.from(W('model.embed_tokens.weight').subarray(token * dim, (token + 1) * dim));
    for (let l = 0; l < nLayers; l++) {
      const p = `model.layers.${l}.`;
      const xb = rms(x, W(p + 'input_layernorm.weight'));
      const q = matvec(W(p + 'self_attn.q_proj.weight'), xb, dim, dim);
      const k = matvec(W(p + 'self_attn.k_proj.weight'), xb, nKv * hs, dim);
      const v = matvec(W(p + 'self_attn.v_proj.weight'), xb, nKv * hs, dim);
      for (const vec of [q, k]) {
        for (let i = 0; i < vec.length; i += 2) {
          const hd = i % hs;
          const theta = pos * 10000 ** (-hd / hs);
          const c = Math.cos(theta),
            s = Math.sin(theta);
          const a = vec[i],
            b = vec[i + 1];
          vec[i] = a * c - b * s;
          vec[i + 1] = a * s + b * c;
        }
      }
      kc[l].push(k);
      vc[l].push(v);
      const att = new Float64Array(dim);
      for (let h = 0; h < nHeads; h++) {
        const kvh = Math.floor(h / (nHeads / nKv));
        const sc = kc[l].map((kk) => {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q[h * hs + i] * kk[kvh * hs + i];
          return s / Math.sqrt(hs);
        });
        const m = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t < e.length; t++)
          for (let i = 0; i < hs; i++) att[h * hs + i] += (e[t] / z) * vc[l][t][kvh * hs + i];
      }
      const o = matvec(W(p + 'self_attn.o_proj.weight'), att, dim, dim);
      x = x.map((v2, i) => v2 + o[i]);
      const xb2 = rms(x, W(p + 'post_attention_layernorm.weight'));
      const g = matvec(W(p + 'mlp.gate_proj.weight'), xb2, hidden, dim);
      const u = matvec(W(p + 'mlp.up_proj.weight'), xb2, hidden, dim);
      const hdn = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]);
      const d = matvec(W(p + 'mlp.down_proj.weight'), hdn, dim, hidden);
      x = x.map((v2, i) => v2 + d[i]);
    }
    if (pos + 1 < prompt.length) continue;
    const logits = matvec(W('model.embed_tokens.weight'), rms(x, W('model.norm.weight')), vocab, dim);
    let best = 0;
    for (let i = 1; i < vocab; i++) if (logits[i] > logits[best]) best = i;
    out.push(best);
  }
  return out;
}

test('stories260K: greedy decoding with the mapped weights is fluent', () => {
  const { tensors } = parseLlama2cCheckpoint(readFileSync(CKPT), CKPT);
  const tok = Llama2cTokenizer.fromFile(TOK, 512);
  const ids = greedy(tensors, tok.encode('Once upon a time', { bos: true }), 24);
  const text = tok.decode(ids);
  assert.ok(text.startsWith('Once upon a time'), text);
  // A fluent TinyStories continuation is made of known English words and no byte fallbacks.
  assert.ok(
    ids.every((i) => i > 258 || i === 1 || i === 2),
    `byte fallbacks in ${ids}`,
  );
  assert.match(text, /^Once upon a time, there was a little/, text);
});
