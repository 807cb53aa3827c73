/** GPT-2 (Hugging Face GPT2LMHeadModel): learned positions, pre-LN, Conv1D weights stored [in, out], tied head. */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';
import { FrozenTransformer } from './frozen-transformer.ts';
import { Embedding } from './embedding.ts';
import { LayerNorm, Linear, activation, attentionBias, mergeHeads, scaledDotAttention, splitHeads, weight } from './layers.ts';
import type { TensorMap } from './tensor-map.ts';

interface Block { ln1: LayerNorm; attn: Linear; proj: Linear; ln2: LayerNorm; fc: Linear; fcProj: Linear }

export class GPT2 extends FrozenTransformer<Block> {
  readonly head: Linear;
  private readonly wpe: tf.Tensor2D;
  private readonly lnF: LayerNorm;

  constructor(config: ModelConfig, w: TensorMap) {
    super(config, Embedding.load(w, 'transformer.wte.weight', [config.vocabSize, config.hiddenSize]), config.hiddenSize);
    const c = config;
    const d = c.hiddenSize;
    const ffn = c.intermediateSize;
    this.wpe = weight(w, 'transformer.wpe.weight', [c.maxPositions, d]) as tf.Tensor2D;
    for (let i = 0; i < c.numLayers; i++) {
      const p = `transformer.h.${i}`;
      this.blocks.push({
        ln1: LayerNorm.load(w, `${p}.ln_1`, c.normEps, d),
        attn: Linear.fromConv1D(w, `${p}.attn.c_attn`, [d, 3 * d]),
        proj: Linear.fromConv1D(w, `${p}.attn.c_proj`, [d, d]),
        ln2: LayerNorm.load(w, `${p}.ln_2`, c.normEps, d),
        fc: Linear.fromConv1D(w, `${p}.mlp.c_fc`, [d, ffn]),
        fcProj: Linear.fromConv1D(w, `${p}.mlp.c_proj`, [ffn, d]),
      });
    }
    this.lnF = LayerNorm.load(w, 'transformer.ln_f', c.normEps, d);
    this.extras.push(this.wpe, this.lnF);
    this.head = this.outputHead(w, true, 'lm_head');
  }

  hiddenStates(x: tf.Tensor3D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
    const c = this.config;
    const [, T, d] = x.shape;
    if (T > this.maxPositions) throw new Error(`sequence of ${T} exceeds GPT-2's ${this.maxPositions} positions`);
    const hd = d / c.numHeads;
    const bias = attentionBias(T, attentionMask, this.cache);
    let h: tf.Tensor = tf.add(x, tf.slice(this.wpe, [0, 0], [T, d]));
    for (const b of this.blocks) {
      const qkv = b.attn.forward(b.ln1.forward(h));
      const [q, k, v] = tf.split(qkv, 3, 2).map((t) => splitHeads(t, c.numHeads, hd));
      h = tf.add(h, b.proj.forward(mergeHeads(scaledDotAttention(q, k, v, 1 / Math.sqrt(hd), bias))));
      h = tf.add(h, b.fcProj.forward(activation(c.activation, b.fc.forward(b.ln2.forward(h)))));
    }
    return this.lnF.forward(h) as tf.Tensor3D;
  }
}
