/** The solution-space report: cosines, interpolation, trajectory PCA, per (model, source, L, K). */
import { MIN_PCA_POINTS } from '../../../metrics/pca.ts';
import { fmt, formatMeanStd, pct } from '../../../report/format.ts';
import { mdTable, type ReportContent } from '../../../report/report.ts';
import { toCsv } from '../../../report/tables.ts';
import { columnsOf } from '../../../results/record-schema.ts';
import { describeBadLines } from '../../../results/run-folder.ts';
import type { ReportInput } from '../../kind.ts';
import type { CosinePoint } from './figures/solution-cosine.ts';
import type { InterpolationPoint } from './figures/interpolation.ts';
import type { TrajectoryPoint } from './figures/trajectory-pca.ts';
import { SOLUTION_SPACE_FIGURES } from './figures/index.ts';
import type { CosinePair } from './math.ts';
import {
  groupKey,
  SolutionSpaceRecordSchema,
  textKey,
  type GroupRecord,
  type RestartRecord,
  type SolutionSpaceRecord,
  type TextRecord,
} from './records.ts';

import { solutionSpaceSummary } from './summary.ts';

const TRAJECTORY_PANELS = 8;
const label = (r: { model: string; source: string; length: number; n_mem: number }) =>
  `${r.model}, ${r.source}, L = ${r.length}, K = ${r.n_mem}`;

export function report(input: ReportInput<SolutionSpaceRecord>): ReportContent {
  const { records } = input;
  const restarts = records.filter((r): r is RestartRecord => r.record === 'restart');
  const texts = records.filter((r): r is TextRecord => r.record === 'text');
  const groups = records.filter((r): r is GroupRecord => r.record === 'group');
  const summary = solutionSpaceSummary(records);
  // Trajectory panels: the text alone when there is one (model, source, L, K), with its group otherwise.
  const several = summary.length > 1;
  const panelOf = label;
  const textPanel = (r: { model: string; source: string; length: number; n_mem: number; sample_index: number }) =>
    several ? `${r.model}, L = ${r.length}, K = ${r.n_mem}, text #${r.sample_index}` : `text #${r.sample_index}`;

  const cosRows: (CosinePair & {
    model: string;
    source: string;
    length: number;
    n_mem: number;
    pair: 'same text' | 'different texts';
  })[] = [];
  for (const g of groups) {
    for (const [which, ps] of [
      ['same text', g.intra],
      ['different texts', g.inter],
    ] as const) {
      for (const p of ps)
        cosRows.push({
          model: g.model,
          source: g.source,
          length: g.length,
          n_mem: g.n_mem,
          pair: which,
          text_a: p[0],
          restart_a: p[1],
          text_b: p[2],
          restart_b: p[3],
          cosine: p[4],
        });
    }
  }
  // Before a group is analysed, its texts' intra-text cosines are still shown.
  const analysedGroups = new Set(groups.map((g) => groupKey(g.model, g.source, g.length, g.n_mem)));
  for (const t of texts) {
    if (analysedGroups.has(groupKey(t.model, t.source, t.length, t.n_mem))) continue;
    for (const c of t.intra_cosines)
      cosRows.push({
        model: t.model,
        source: t.source,
        length: t.length,
        n_mem: t.n_mem,
        pair: 'same text',
        text_a: t.sample_index,
        restart_a: c.restart_a,
        text_b: t.sample_index,
        restart_b: c.restart_b,
        cosine: c.cosine,
      });
  }
  const interpRows = texts.flatMap((t) =>
    t.interpolation.flatMap((p) =>
      t.alphas.map((al, i) => ({
        model: t.model,
        source: t.source,
        length: t.length,
        n_mem: t.n_mem,
        sample_index: t.sample_index,
        restart_a: p.restart_a,
        restart_b: p.restart_b,
        alpha: al,
        accuracy: p.accuracy[i],
        loss: p.loss[i],
        regenerated_exact: p.exact.length ? p.exact[i] : null,
        regenerated_prefix_tokens: p.prefix_tokens.length ? p.prefix_tokens[i] : null,
        norm_ratio: p.norm_ratio[i],
      })),
    ),
  );
  // The trajectory figure draws 8 texts, as many from each (model, source, L, K) as fit.
  const perGroup = Math.max(1, Math.floor(TRAJECTORY_PANELS / Math.max(1, summary.length)));
  const drawn = new Set<string>();
  for (const s of summary) {
    const idx = [...new Set(texts.filter((t) => panelOf(t) === panelOf(s)).map((t) => t.sample_index))]
      .sort((a, b) => a - b)
      .slice(0, perGroup);
    for (const i of idx) drawn.add(`${panelOf(s)}|${i}`);
  }
  const pathRows = texts.flatMap((t) =>
    t.joint_pca.flatMap((p) =>
      p.steps.map((s, i) => ({
        model: t.model,
        source: t.source,
        length: t.length,
        n_mem: t.n_mem,
        sample_index: t.sample_index,
        restart: p.restart,
        step: s,
        pc1: p.pc1[i],
        pc2: p.pc2[i],
      })),
    ),
  );
  const pcaRows = [
    ...restarts.map((r) => ({
      model: r.model,
      source: r.source,
      length: r.length,
      n_mem: r.n_mem,
      sample_index: r.sample_index,
      restart: r.restart as number | string,
      pc1_share: r.pc1_share,
      pc2_share: r.pc2_share,
      points: r.trajectory_points,
    })),
    ...texts.map((t) => ({
      model: t.model,
      source: t.source,
      length: t.length,
      n_mem: t.n_mem,
      sample_index: t.sample_index,
      restart: 'all' as number | string,
      pc1_share: t.joint_pc1_share,
      pc2_share: t.joint_pc2_share,
      points: t.joint_pca.reduce((a, p) => a + p.steps.length, 0),
    })),
  ];

  const HEAD1 = [
    'Model, source, L, K',
    'Texts × restarts',
    'Best accuracy',
    'Solved',
    'Exact regen.',
    'Cosine, same text',
    'Cosine, different texts',
  ];
  const rows1 = summary.map((s) => [
    label(s),
    `${s.texts} × ${s.texts ? Math.round(s.restarts / s.texts) : 0}`,
    fmt(s.best_accuracy_mean),
    pct(s.solved_share),
    pct(s.exact_share),
    formatMeanStd(s.intra_cosine_mean, s.intra_cosine_std, 3),
    formatMeanStd(s.inter_cosine_mean, s.inter_cosine_std, 3),
  ]);
  const HEAD2 = [
    'Model, source, L, K',
    'Accuracy at the ends',
    'At the midpoint',
    'Lowest on the line',
    'Exact regen. at the midpoint',
    'End mismatches',
  ];
  const rows2 = summary.map((s) => [
    label(s),
    fmt(s.endpoint_accuracy_mean),
    fmt(s.mid_accuracy_mean),
    fmt(s.min_accuracy_mean),
    pct(s.mid_exact_share),
    String(s.endpoint_mismatches),
  ]);
  const HEAD3 = [
    'Model, source, L, K',
    'PC1',
    'PC2',
    'PC1 + PC2 (per restart)',
    'PC1 + PC2 (restarts of a text together)',
    'Left out (undefined)',
  ];
  const rows3 = summary.map((s) => [
    label(s),
    pct(s.pc1_share_mean),
    pct(s.pc2_share_mean),
    `${pct(s.pc12_share_mean)}${s.pc12_share_std !== null ? ` ± ${(100 * s.pc12_share_std).toFixed(1)}` : ''}`,
    pct(s.joint_pc12_share_mean),
    `${s.pca_left_out} restart(s), ${s.joint_pca_left_out} text(s)`,
  ]);
  const leftOut = summary.reduce((a, s) => a + s.pca_left_out, 0);
  const jointLeftOut = summary.reduce((a, s) => a + s.joint_pca_left_out, 0);
  const section = (title: string, text: string, head: string[], rows: string[][]) => ({
    title,
    markdown: `${text}\n\n${mdTable(head, rows)}`,
  });
  const waiting = new Set(restarts.map((r) => textKey(groupKey(r.model, r.source, r.length, r.n_mem), r.sample_index)));
  for (const t of texts) waiting.delete(textKey(groupKey(t.model, t.source, t.length, t.n_mem), t.sample_index));
  const notes = [...describeBadLines(input.badLines)];
  if (leftOut + jointLeftOut > 0) {
    notes.push(
      `PCA shares are undefined for trajectories of fewer than ${MIN_PCA_POINTS} points (or without variance): ${leftOut} restart(s) and ` +
        `${jointLeftOut} text(s) are left out of the PCA means (raise max_steps or lower vectors_every for longer trajectories).`,
    );
  }
  if (waiting.size > 0)
    notes.push(
      `${waiting.size} text${waiting.size > 1 ? 's have' : ' has'} restarts but no analysis yet (a restart still to run, or the run was stopped): run the same command to finish.`,
    );
  return {
    summary: [
      `Restarts: ${restarts.length} (${new Set(restarts.map((r) => `${r.model}|${r.source}|${r.sample_index}`)).size} texts); analysed texts: ${texts.length}; analysed groups: ${groups.length}`,
      `Models: ${[...new Set(records.map((r) => r.model))].join(', ')}; sources: ${[...new Set(records.map((r) => r.source))].join(', ')}`,
      `Lengths: ${[...new Set(records.map((r) => r.length))].sort((a, b) => a - b).join(', ')}; K: ${[...new Set(records.map((r) => r.n_mem))].sort((a, b) => a - b).join(', ')}`,
      `Stop reasons: ${[...restarts.reduce((m, r) => m.set(r.stop_reason, (m.get(r.stop_reason) ?? 0) + 1), new Map<string, number>())].map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`,
    ],
    notes,
    sections: [
      section(
        'Solutions of the same text and of different texts (Fig. 7)',
        'Cosine similarity of the kept vectors (all K flattened), mean ± std over pairs: restarts of the same text, and solutions of different texts. Best accuracy, solved share and exact greedy regeneration are over all restarts.',
        HEAD1,
        rows1,
      ),
      section(
        'Straight lines between restarts of a text (Fig. 8)',
        'Teacher-forced accuracy along (1 − α)·a + α·b between every pair of restarts of a text, mean over pairs and texts. "End mismatches" counts ends whose re-evaluated accuracy differs from the restart\'s kept accuracy (should be 0).',
        HEAD2,
        rows2,
      ),
      section(
        'Optimisation trajectories (PCA)',
        'Share of the variance of a trajectory (the vectors every `vectors_every` steps, from the random start to the kept solution) on its first two principal components: each restart alone (mean ± std), and all restarts of a text in one PCA (mean over texts).',
        HEAD3,
        rows3,
      ),
    ],
    tables: [
      { file: 'solution_space_summary.csv', content: toCsv(summary) },
      {
        file: 'restarts.csv',
        content: toCsv(
          restarts.map((r) =>
            Object.fromEntries(
              columnsOf(SolutionSpaceRecordSchema)
                .filter((c) => c in r)
                .map((c) => [c, (r as unknown as Record<string, unknown>)[c]]),
            ),
          ),
        ),
      },
      {
        file: 'cosines.csv',
        content: toCsv(cosRows, [
          'model',
          'source',
          'length',
          'n_mem',
          'pair',
          'text_a',
          'restart_a',
          'text_b',
          'restart_b',
          'cosine',
        ]),
      },
      { file: 'interpolation.csv', content: toCsv(interpRows) },
      { file: 'trajectory_pca.csv', content: toCsv(pcaRows) },
      { file: 'trajectory_pca_paths.csv', content: toCsv(pathRows) },
    ],
    figures: SOLUTION_SPACE_FIGURES.map((f) =>
      f.draw({
        cosines: cosRows.map((c): CosinePoint => ({ panel: panelOf(c), pair: c.pair, cosine: c.cosine })),
        interpolation: interpRows.map((r): InterpolationPoint => ({
          panel: panelOf(r),
          line: `${r.sample_index}:${r.restart_a}-${r.restart_b}`,
          alpha: r.alpha,
          accuracy: r.accuracy,
          exact: r.regenerated_exact,
        })),
        trajectories: pathRows
          .filter((p) => drawn.has(`${panelOf(p)}|${p.sample_index}`))
          .map((p): TrajectoryPoint => ({
            panel: textPanel(p),
            restart: p.restart,
            step: p.step,
            pc1: p.pc1,
            pc2: p.pc2,
          })),
        panelShares: Object.fromEntries(
          texts
            .filter((t) => t.joint_pc1_share !== null)
            .map((t) => [textPanel(t), [t.joint_pc1_share!, t.joint_pc2_share!]]),
        ),
      }),
    ),
  };
}
