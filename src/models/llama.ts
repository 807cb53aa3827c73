/** Llama (Hugging Face LlamaForCausalLM; llama2.c checkpoints too): RMSNorm, RoPE, SwiGLU, grouped-query attention. */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';
import { FrozenTransformer } from './frozen-transformer.ts';
import { Embedding } from './embedding.ts';
import { Linear, RMSNorm, activation, applyRope, attentionBias, mergeHeads, repeatKv, ropeTables, scaledDotAttention, splitHeads, weight } from './layers.ts';
import type { TensorMap } from './tensor-map.ts';

interface Block {
  inputNorm: RMSNorm; q: Linear; k: Linear; v: Linear; o: Linear;
  postNorm: RMSNorm; gate: Linear; up: Linear; down: Linear;
}

export class Llama extends FrozenTransformer<Block> {
  readonly head: Linear;
  private readonly norm: RMSNorm;

  constructor(config: ModelConfig, w: TensorMap) {
    super(config, Embedding.load(w, 'model.embed_tokens.weight', [config.vocabSize, config.hiddenSize]), config.hiddenSize);
    const c = config;
    const d = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const eps = c.normEps;
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      this.blocks.push({
        inputNorm: new RMSNorm(weight(w, `${p}.input_layernorm.weight`, [d]) as tf.Tensor1D, eps),
        q: Linear.fromTorch(w, `${p}.self_attn.q_proj`, { bias: c.attentionBias, shape: [qDim, d] }),
        k: Linear.fromTorch(w, `${p}.self_attn.k_proj`, { bias: c.attentionBias, shape: [kvDim, d] }),
        v: Linear.fromTorch(w, `${p}.self_attn.v_proj`, { bias: c.attentionBias, shape: [kvDim, d] }),
        o: Linear.fromTorch(w, `${p}.self_attn.o_proj`, { bias: c.attentionBias, shape: [d, qDim] }),
        postNorm: new RMSNorm(weight(w, `${p}.post_attention_layernorm.weight`, [d]) as tf.Tensor1D, eps),
        gate: Linear.fromTorch(w, `${p}.mlp.gate_proj`, { bias: c.mlpBias, shape: [c.intermediateSize, d] }),
        up: Linear.fromTorch(w, `${p}.mlp.up_proj`, { bias: c.mlpBias, shape: [c.intermediateSize, d] }),
        down: Linear.fromTorch(w, `${p}.mlp.down_proj`, { bias: c.mlpBias, shape: [d, c.intermediateSize] }),
      });
    }
    this.norm = new RMSNorm(weight(w, 'model.norm.weight', [d]) as tf.Tensor1D, eps);
    this.extras.push(this.norm);
    // llama2.c and some exports omit lm_head even when the config does not say the embeddings are tied.
    this.head = this.outputHead(w, c.tieWordEmbeddings || !w.has('lm_head.weight'), 'lm_head');
  }

  hiddenStates(x: tf.Tensor3D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
    const c = this.config;
    const T = x.shape[1];
    const [cos, sin] = this.cache.get(`rope:${T}`, () => { const r = ropeTables(T, c.headDim, c.ropeTheta, c.ropeScaling); return [r.cos, r.sin]; });
    const bias = attentionBias(T, attentionMask, this.cache);
    const scale = 1 / Math.sqrt(c.headDim);
    let h: tf.Tensor = x;
    for (const b of this.blocks) {
      const normed = b.inputNorm.forward(h);
      const q = applyRope(splitHeads(b.q.forward(normed), c.numHeads, c.headDim), cos, sin, c.headDim, c.ropeInterleaved);
      const k = applyRope(splitHeads(b.k.forward(normed), c.numKvHeads, c.headDim), cos, sin, c.headDim, c.ropeInterleaved);
      const v = splitHeads(b.v.forward(normed), c.numKvHeads, c.headDim);
      const rep = c.numHeads / c.numKvHeads;
      const attn = scaledDotAttention(q, repeatKv(k, rep), repeatKv(v, rep), scale, bias);
      h = tf.add(h, b.o.forward(mergeHeads(attn)));
      const n2 = b.postNorm.forward(h);
      h = tf.add(h, b.down.forward(tf.mul(activation(c.activation, b.gate.forward(n2)), b.up.forward(n2))));
    }
    return this.norm.forward(h) as tf.Tensor3D;
  }
}
