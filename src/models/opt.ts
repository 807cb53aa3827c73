/**
 * OPT (Hugging Face OPTForCausalLM): learned positions offset by 2, pre-LN (do_layer_norm_before) or post-LN,
 * ReLU MLP, queries scaled by head_dim^-0.5, and project_in/project_out when word_embed_proj_dim ≠ hidden_size
 * (the [mem] vectors then have word_embed_proj_dim entries, as in the paper's code).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';
import { FrozenTransformer } from './frozen-transformer.ts';
import { Embedding } from './embedding.ts';
import { LayerNorm, Linear, activation, attentionBias, mergeHeads, scaledDotAttention, splitHeads, weight } from './layers.ts';
import type { TensorMap } from './tensor-map.ts';

const POSITION_OFFSET = 2;

interface Block { lnAttn: LayerNorm; q: Linear; k: Linear; v: Linear; out: Linear; lnFfn: LayerNorm; fc1: Linear; fc2: Linear }

export class OPT extends FrozenTransformer<Block> {
  readonly head: Linear;
  private readonly positions: tf.Tensor2D;
  private readonly projectIn: Linear | null;
  private readonly projectOut: Linear | null;
  private readonly lnF: LayerNorm | null;

  constructor(config: ModelConfig, w: TensorMap) {
    super(config, Embedding.load(w, 'model.decoder.embed_tokens.weight', [config.vocabSize, config.wordEmbedProjDim]), config.wordEmbedProjDim);
    const c = config;
    const d = c.hiddenSize;
    const e = c.wordEmbedProjDim;
    const bias = c.attentionBias;
    const pre = 'model.decoder';
    this.positions = weight(w, `${pre}.embed_positions.weight`, [c.maxPositions + POSITION_OFFSET, d]) as tf.Tensor2D;
    this.projectIn = e !== d ? Linear.fromTorch(w, `${pre}.project_in`, { shape: [d, e] }) : null;
    this.projectOut = e !== d ? Linear.fromTorch(w, `${pre}.project_out`, { shape: [e, d] }) : null;
    for (let i = 0; i < c.numLayers; i++) {
      const p = `${pre}.layers.${i}`;
      this.blocks.push({
        lnAttn: LayerNorm.load(w, `${p}.self_attn_layer_norm`, c.normEps, d),
        q: Linear.fromTorch(w, `${p}.self_attn.q_proj`, { bias, shape: [d, d] }),
        k: Linear.fromTorch(w, `${p}.self_attn.k_proj`, { bias, shape: [d, d] }),
        v: Linear.fromTorch(w, `${p}.self_attn.v_proj`, { bias, shape: [d, d] }),
        out: Linear.fromTorch(w, `${p}.self_attn.out_proj`, { bias, shape: [d, d] }),
        lnFfn: LayerNorm.load(w, `${p}.final_layer_norm`, c.normEps, d),
        fc1: Linear.fromTorch(w, `${p}.fc1`, { bias, shape: [c.intermediateSize, d] }),
        fc2: Linear.fromTorch(w, `${p}.fc2`, { bias, shape: [d, c.intermediateSize] }),
      });
    }
    this.lnF = w.has(`${pre}.final_layer_norm.weight`) ? LayerNorm.load(w, `${pre}.final_layer_norm`, c.normEps, d) : null;
    this.extras.push(this.positions, ...[this.projectIn, this.projectOut, this.lnF].filter((m) => m !== null));
    this.head = this.outputHead(w, c.tieWordEmbeddings || !w.has('lm_head.weight'), 'lm_head');
  }

  hiddenStates(x: tf.Tensor3D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
    const c = this.config;
    const [, T] = x.shape;
    const d = c.hiddenSize;
    const hd = d / c.numHeads;
    if (T > this.maxPositions) throw new Error(`sequence of ${T} exceeds OPT's ${this.maxPositions} positions`);
    const bias = attentionBias(T, attentionMask, this.cache);
    const projected = this.projectIn ? this.projectIn.forward(x) : x;
    // Right padding keeps real tokens at positions 0..n-1, as HF's cumsum(attention_mask) - 1 would give.
    let h: tf.Tensor = tf.add(projected, tf.slice(this.positions, [POSITION_OFFSET, 0], [T, d]));
    const pre = c.doLayerNormBefore;
    for (const b of this.blocks) {
      const a = pre ? b.lnAttn.forward(h) : h;
      const q = splitHeads(tf.mul(b.q.forward(a), 1 / Math.sqrt(hd)), c.numHeads, hd);
      const k = splitHeads(b.k.forward(a), c.numHeads, hd);
      const v = splitHeads(b.v.forward(a), c.numHeads, hd);
      h = tf.add(h, b.out.forward(mergeHeads(scaledDotAttention(q, k, v, 1, bias))));
      if (!pre) h = b.lnAttn.forward(h);
      const f = pre ? b.lnFfn.forward(h) : h;
      h = tf.add(h, b.fc2.forward(activation(c.activation, b.fc1.forward(f))));
      if (!pre) h = b.lnFfn.forward(h);
    }
    if (this.lnF) h = this.lnF.forward(h);
    if (this.projectOut) h = this.projectOut.forward(h);
    return h as tf.Tensor3D;
  }
}
