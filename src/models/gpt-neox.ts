/**
 * GPT-NeoX / Pythia (Hugging Face GPTNeoXForCausalLM): LayerNorm, rotary on the first rotary_pct of each head,
 * parallel or sequential residual per config, fused per-head q/k/v, untied `embed_out`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';
import { FrozenTransformer } from './frozen-transformer.ts';
import { Embedding } from './embedding.ts';
import { LayerNorm, Linear, activation, applyRope, attentionBias, mergeHeads, ropeTables, scaledDotAttention } from './layers.ts';
import type { TensorMap } from './tensor-map.ts';

interface Block { ln1: LayerNorm; ln2: LayerNorm; qkv: Linear; dense: Linear; up: Linear; down: Linear }

export class GPTNeoX extends FrozenTransformer<Block> {
  readonly head: Linear;
  private readonly lnF: LayerNorm;

  constructor(config: ModelConfig, w: TensorMap) {
    super(config, Embedding.load(w, 'gpt_neox.embed_in.weight', [config.vocabSize, config.hiddenSize]), config.hiddenSize);
    const c = config;
    const d = c.hiddenSize;
    const ffn = c.intermediateSize;
    const bias = c.attentionBias;
    for (let i = 0; i < c.numLayers; i++) {
      const p = `gpt_neox.layers.${i}`;
      this.blocks.push({
        ln1: LayerNorm.load(w, `${p}.input_layernorm`, c.normEps, d),
        ln2: LayerNorm.load(w, `${p}.post_attention_layernorm`, c.normEps, d),
        qkv: Linear.fromTorch(w, `${p}.attention.query_key_value`, { bias, shape: [3 * d, d] }),
        dense: Linear.fromTorch(w, `${p}.attention.dense`, { bias, shape: [d, d] }),
        up: Linear.fromTorch(w, `${p}.mlp.dense_h_to_4h`, { bias: true, shape: [ffn, d] }),
        down: Linear.fromTorch(w, `${p}.mlp.dense_4h_to_h`, { bias: true, shape: [d, ffn] }),
      });
    }
    this.lnF = LayerNorm.load(w, 'gpt_neox.final_layer_norm', c.normEps, d);
    this.extras.push(this.lnF);
    this.head = this.outputHead(w, c.tieWordEmbeddings, 'embed_out');
  }

  hiddenStates(x: tf.Tensor3D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
    const c = this.config;
    const [B, T] = x.shape;
    const hd = c.headDim;
    const [cos, sin] = this.cache.get(`rope:${T}`, () => { const r = ropeTables(T, c.rotaryDim, c.ropeTheta); return [r.cos, r.sin]; });
    const bias = attentionBias(T, attentionMask, this.cache);
    const attention = (b: Block, input: tf.Tensor) => {
      // The fused projection is laid out per head: [q_h | k_h | v_h] for each head h.
      const qkv = tf.transpose(tf.reshape(b.qkv.forward(input), [B, T, c.numHeads, 3 * hd]), [0, 2, 1, 3]);
      const [q, k, v] = tf.split(qkv, 3, 3) as tf.Tensor4D[];
      const qr = applyRope(q, cos, sin, c.rotaryDim, false);
      const kr = applyRope(k, cos, sin, c.rotaryDim, false);
      return b.dense.forward(mergeHeads(scaledDotAttention(qr, kr, v, 1 / Math.sqrt(hd), bias)));
    };
    const mlp = (b: Block, input: tf.Tensor) => b.down.forward(activation(c.activation, b.up.forward(input)));
    let h: tf.Tensor = x;
    for (const b of this.blocks) {
      if (c.parallelResidual) {
        h = tf.add(tf.add(h, attention(b, b.ln1.forward(h))), mlp(b, b.ln2.forward(h)));
      } else {
        h = tf.add(h, attention(b, b.ln1.forward(h)));
        h = tf.add(h, mlp(b, b.ln2.forward(h)));
      }
    }
    return this.lnF.forward(h) as tf.Tensor3D;
  }
}
