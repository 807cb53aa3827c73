/**
 * The graphs the engine runs, built from a model's three parts (embed, hidden states, head):
 *
 * - objective (per K): [mem_1..mem_K, e(t_1)..e(t_N)] through the frozen model; per-text mean cross-entropy (natural
 *   log) over text positions 1..N−1 read from the text positions' hidden states only ([mem] outputs dropped), the
 *   number of correct argmax predictions, the per-token cross-entropies, and (step graphs) the gradient w.r.t. the
 *   [mem] vectors. Rows are right-padded: with causal attention a real token never sees the padding after it, so
 *   padding changes neither a text's loss nor its gradient; `n_tokens` masks the padded predictions out.
 * - decode: incremental greedy decoding with a key/value cache (see Sequence.carry).
 */
import { gradients } from '../engine/graph/autodiff.ts';
import { Graph, type Value } from '../engine/graph/graph.ts';
import * as op from '../engine/graph/ops.ts';
import { headCrossEntropy, headLogits, type CausalLM } from '../models/causal-lm.ts';
import { Sequence } from '../models/sequence.ts';

export interface ObjectiveGraphOptions {
  /** Emit the gradient w.r.t. the [mem] vectors. */
  grad: boolean;
}

/**
 * Inputs: `mem` float [B, K, d] (K is dynamic: one graph serves every K, and K = 0 is the no-mem baseline), `ids`
 * int64 [B, N] right-padded, `n_tokens` int64 [B] (each text's N_b ≥ 2).
 * Outputs: `loss` [B], `correct` [B], `token_ce` [B, N−1]
 * (0 on padding), and with `grad` also `grad` [B, K, d] = d(Σ_b loss_b)/d(mem), whose row b is exactly the gradient of
 * text b's own mean loss.
 */
export function buildObjectiveGraph(model: CausalLM, opts: ObjectiveGraphOptions): Graph {
  const g = new Graph(`objective${opts.grad ? '-grad' : ''}`);
  const d = model.embedDim;
  const mem = g.input('mem', 'float32', ['B', 'K', d], { requiresGrad: opts.grad });
  const ids = g.input('ids', 'int64', ['B', 'N']);
  const nTokens = g.input('n_tokens', 'int64', ['B']);
  const x = op.concat([mem, model.embed(g, ids)], 1);
  const seq = new Sequence(g, x);
  const hidden = model.hiddenStates(x, seq);
  const H = hidden.dim(-1);
  // Text positions 0..N−2 (columns K..K+N−2) predict text tokens 1..N−1.
  const K = op.dimOf(mem, 1);
  const N = op.dimOf(ids, 1);
  const P = op.sub(N, g.ints([1]));
  const hText = op.slice(hidden, [K], [op.add(P, K)], [1], 'P');
  const targets = op.reshape(op.slice(ids, [1], [N], [1], 'P'), [-1]);
  const { ce, hit } = headCrossEntropy(model.head(g), op.reshape(hText, [-1, H]), targets);
  // Text b makes N_b − 1 predictions.
  const loss = textOutputs(g, ce, hit, op.sub(nTokens, g.scalar(1, 'int64')), op.dimOf(ids, 0), P);
  if (opts.grad) {
    const ones = op.add(op.zerosLike(loss), g.scalar(1));
    const [dmem] = gradients([loss], [ones], [mem]);
    g.output(dmem, 'grad');
  }
  return g;
}

/**
 * The per-text outputs of both objectives from flat per-position `ce` and `hit` [B·P]: `token_ce` [B, P] (0 past a
 * row's `counts[b]` predictions), `loss` [B] (their mean) and `correct` [B] (argmax hits among them). Returns `loss`.
 */
function textOutputs(g: Graph, ce: Value, hit: Value, counts: Value, batch: Value, P: Value): Value {
  const steps = op.unsqueeze(op.range(g.scalar(0, 'int64'), P, 'P'), [0]); // [1, P]
  const valid = op.cast(op.less(steps, op.unsqueeze(counts, [1])), 'float32'); // [B, P]: i < counts[b]
  const perText = op.unsqueeze(op.cast(counts, 'float32'), [1]);
  const bp = { value: op.concat([batch, P], 0), shape: ['B', 'P'] };
  const tokenCe = op.mul(op.reshape(ce, bp), valid);
  const loss = op.reduceSum(op.div(tokenCe, perText), [1], false);
  const correct = op.reduceSum(op.mul(op.reshape(hit, bp), valid), [1], false);
  g.output(loss, 'loss');
  g.output(correct, 'correct');
  g.output(tokenCe, 'token_ce');
  return loss;
}

/**
 * Incremental greedy decoding. Inputs: `prefix` float [B, P, d] (input embeddings put before the tokens, e.g. [mem]
 * vectors; P may be 0), `ids` int64 [B, t] (t may be 0), `past_length` int64 [1], and every layer's cache
 * `past.<name>` (empty on the first call). Outputs: `next` int64 [B] (argmax at the last position), `logits` [B, V]
 * there, and `present.<name>` for the next call.
 */
export function buildDecodeGraph(model: CausalLM): {
  graph: Graph;
  carried: { name: string; dims: (number | string)[]; axis: number | null }[];
} {
  const g = new Graph('decode');
  const d = model.embedDim;
  const prefix = g.input('prefix', 'float32', ['B', 'P', d]);
  const ids = g.input('ids', 'int64', ['B', 't']);
  const pastLength = g.input('past_length', 'int64', [1]);
  const x = op.concat([prefix, model.embed(g, ids)], 1);
  const seq = new Sequence(g, x, { pastLength, incremental: true });
  const hidden = model.hiddenStates(x, seq);
  const last = op.slice(hidden, [-1], [2 ** 62], [1], 1);
  const logits = headLogits(model.head(g), op.reshape(last, [-1, hidden.dim(-1)]));
  g.output(op.argMax(logits, 1, false), 'next');
  g.output(logits, 'logits');
  const carried: { name: string; dims: (number | string)[]; axis: number | null }[] = [];
  for (const [name, state] of seq.carried!) {
    if (!state.output) throw new Error(`decode graph: state ${name} was never updated`);
    g.output(state.output, `present.${name}`);
    carried.push({ name, dims: state.input.shape, axis: state.axis });
  }
  return { graph: g, carried };
}

/**
 * One-step generation (Mezentsev & Oseledets, EMNLP 2025): the frozen model reads only trained vectors,
 * [e, m, m, …, m] (one text-specific e, then P−1 copies of a second vector m), and every position is read out at once:
 * position i (0-based) predicts target token i, i.e. the paper's L = Σᵢ −log P(tᵢ | Z₁..ᵢ) with no shift. P is the
 * number of target tokens. Positions start at 0 on e (no BOS in the input).
 *
 * Inputs: `e` float [B, 1, d], `m` float [B, 1, d] (one m per row: a shared m is fed to each of its texts' rows and its
 * gradient summed on the host), `ids` int64 [B, P] right-padded targets, `n_tokens` int64 [B] (targets per row, ≥ 1).
 * Outputs: `loss` [B] (mean CE over the row's targets), `correct` [B] (argmax hits), `token_ce` [B, P] (0 on padding),
 * and with `grad` also `grad_e` [B, 1, d] and `grad_m` [B, 1, d] = d(Σ_b loss_b)/d(e, m): row b is the gradient of
 * text b's own mean loss. Padding is exact: the padded positions come after a row's real ones and attention is causal.
 */
export function buildOneStepGraph(model: CausalLM, opts: ObjectiveGraphOptions): Graph {
  const g = new Graph(`one-step${opts.grad ? '-grad' : ''}`);
  const d = model.embedDim;
  const e = g.input('e', 'float32', ['B', 1, d], { requiresGrad: opts.grad });
  const m = g.input('m', 'float32', ['B', 1, d], { requiresGrad: opts.grad });
  const ids = g.input('ids', 'int64', ['B', 'P']);
  const nTokens = g.input('n_tokens', 'int64', ['B']);
  const B = op.dimOf(ids, 0);
  const P = op.dimOf(ids, 1);
  const copies = op.expand(m, op.concat([B, op.sub(P, g.ints([1])), g.ints([d])], 0), ['B', 'Pm1', d]);
  const x = op.concat([e, copies], 1);
  const seq = new Sequence(g, x);
  const hidden = model.hiddenStates(x, seq);
  const H = hidden.dim(-1);
  const { ce, hit } = headCrossEntropy(model.head(g), op.reshape(hidden, [-1, H]), op.reshape(ids, [-1]));
  const loss = textOutputs(g, ce, hit, nTokens, B, P);
  if (opts.grad) {
    const ones = op.add(op.zerosLike(loss), g.scalar(1));
    const [de, dm] = gradients([loss], [ones], [e, m]);
    g.output(de, 'grad_e');
    g.output(dm, 'grad_m');
  }
  return g;
}

/**
 * One-step decoding: the tokens the frozen model produces in one forward pass from [e, m × (n−1)]: argmax at every
 * position. Inputs `e`, `m` float [B, 1, d], `n` int64 [1] (positions = tokens produced); output `tokens` int64 [B, n].
 */
export function buildOneStepDecodeGraph(model: CausalLM): Graph {
  const g = new Graph('one-step-decode');
  const d = model.embedDim;
  const e = g.input('e', 'float32', ['B', 1, d]);
  const m = g.input('m', 'float32', ['B', 1, d]);
  const n = g.input('n', 'int64', [1]);
  const B = op.dimOf(e, 0);
  const x = op.concat([e, op.expand(m, op.concat([B, op.sub(n, g.ints([1])), g.ints([d])], 0), ['B', 'Nm1', d])], 1);
  const seq = new Sequence(g, x);
  const hidden = model.hiddenStates(x, seq);
  const H = hidden.dim(-1);
  const logits = headLogits(model.head(g), op.reshape(hidden, [-1, H]));
  const tokens = op.reshape(op.argMax(logits, 1, false), {
    value: op.concat([B, op.dimOf(x, 1)], 0),
    shape: ['B', 'n'],
  });
  g.output(tokens, 'tokens');
  return g;
}
