/** The solution-space summary: one row per (model, source, L, K) with everything the report's sections show. */
import { MIN_PCA_POINTS } from '../../../metrics/pca.ts';
import { mean, std } from '../../../metrics/stats.ts';
import {
  groupKey,
  type GroupRecord,
  type RestartRecord,
  type SolutionSpaceRecord,
  type TextRecord,
} from './records.ts';

export interface SolutionSpaceSummaryRow {
  model: string;
  source: string;
  length: number;
  n_mem: number;
  texts: number;
  restarts: number;
  best_accuracy_mean: number;
  solved_share: number;
  exact_share: number;
  intra_cosine_mean: number;
  intra_cosine_std: number;
  inter_cosine_mean: number;
  inter_cosine_std: number;
  endpoint_accuracy_mean: number;
  mid_accuracy_mean: number;
  min_accuracy_mean: number;
  mid_exact_share: number | null;
  endpoint_mismatches: number;
  /** Over restarts with defined shares (null when none has them). */
  pc1_share_mean: number | null;
  pc2_share_mean: number | null;
  pc12_share_mean: number | null;
  pc12_share_std: number | null;
  joint_pc12_share_mean: number | null;
  /** Restarts with a trajectory whose PCA shares are undefined (fewer than MIN_PCA_POINTS points), left out above. */
  pca_left_out: number;
  /** Texts whose joint PCA is undefined, left out of joint_pc12_share_mean. */
  joint_pca_left_out: number;
}

export function solutionSpaceSummary(records: readonly SolutionSpaceRecord[]): SolutionSpaceSummaryRow[] {
  const groups = new Map<string, SolutionSpaceRecord[]>();
  for (const r of records) {
    const g = groupKey(r.model, r.source, r.length, r.n_mem);
    groups.set(g, [...(groups.get(g) ?? []), r]);
  }
  return [...groups.values()]
    .map((rs) => {
      const restarts = rs.filter((r): r is RestartRecord => r.record === 'restart');
      const texts = rs.filter((r): r is TextRecord => r.record === 'text');
      const group = rs.find((r): r is GroupRecord => r.record === 'group');
      const f = rs[0];
      // Records written before undefined shares were null can hold 0/0 shares of 1–2 points: left out alike.
      const definedPca = (r: RestartRecord) =>
        r.pc1_share !== null && r.pc2_share !== null && r.trajectory_points >= MIN_PCA_POINTS;
      const pcs = restarts.filter(definedPca);
      const withTrajectory = restarts.filter((r) => r.trajectory_points > 0);
      const pc12 = pcs.map((r) => r.pc1_share! + r.pc2_share!);
      const intra = group ? group.intra.map((p) => p[4]) : texts.flatMap((t) => t.intra_cosines.map((c) => c.cosine));
      const inter = group ? group.inter.map((p) => p[4]) : [];
      const ends = texts.flatMap((t) =>
        t.interpolation.flatMap((p) => [p.accuracy[0], p.accuracy[p.accuracy.length - 1]]),
      );
      const exactTexts = texts.filter((t) => t.mid_exact_share !== null);
      const jointDefined = (t: TextRecord) =>
        t.joint_pc1_share !== null &&
        t.joint_pc2_share !== null &&
        t.joint_pca.reduce((a, p) => a + p.steps.length, 0) >= MIN_PCA_POINTS;
      const joint = texts.filter(jointDefined).map((t) => t.joint_pc1_share! + t.joint_pc2_share!);
      const orNull = (x: number) => (Number.isFinite(x) ? x : null);
      return {
        model: f.model,
        source: f.source,
        length: f.length,
        n_mem: f.n_mem,
        texts: new Set(restarts.map((r) => r.sample_index)).size,
        restarts: restarts.length,
        best_accuracy_mean: mean(restarts.map((r) => r.best_accuracy)),
        solved_share: mean(restarts.map((r) => (r.best_accuracy === 1 ? 1 : 0))),
        exact_share: mean(restarts.map((r) => (r.regenerated_exact ? 1 : 0))),
        intra_cosine_mean: mean(intra),
        intra_cosine_std: std(intra),
        inter_cosine_mean: mean(inter),
        inter_cosine_std: std(inter),
        endpoint_accuracy_mean: mean(ends),
        mid_accuracy_mean: mean(texts.map((t) => t.mid_accuracy_mean)),
        min_accuracy_mean: mean(texts.map((t) => t.min_accuracy_mean)),
        mid_exact_share: exactTexts.length ? mean(exactTexts.map((t) => t.mid_exact_share!)) : null,
        endpoint_mismatches: texts.reduce((a, t) => a + t.endpoint_mismatches, 0),
        pc1_share_mean: orNull(mean(pcs.map((r) => r.pc1_share!))),
        pc2_share_mean: orNull(mean(pcs.map((r) => r.pc2_share!))),
        pc12_share_mean: orNull(mean(pc12)),
        pc12_share_std: orNull(std(pc12)),
        joint_pc12_share_mean: orNull(mean(joint)),
        pca_left_out: withTrajectory.filter((r) => !definedPca(r)).length,
        joint_pca_left_out: texts.filter((t) => t.joint_pca.length > 0 && !jointDefined(t)).length,
      };
    })
    .sort(
      (a, b) =>
        a.model.localeCompare(b.model) || a.source.localeCompare(b.source) || a.n_mem - b.n_mem || a.length - b.length,
    );
}
