/**
 * Solution-space: the optimisation trajectories of a text's restarts in the plane of their first two principal
 * components (one PCA per text over all its restarts' trajectories), from the random start (circle) to the last step
 * (cross).
 */
import { CONFIG, facetSpec, type FigureEntry, palette, PANEL_H, round } from '../../../../report/figures/common.ts';

export interface TrajectoryPoint {
  /** Facet: one text. */
  panel: string;
  restart: number;
  step: number;
  pc1: number;
  pc2: number;
}

export function trajectoryPcaFigure(
  points: readonly TrajectoryPoint[],
  shares: Readonly<Record<string, [number, number]>> = {},
  maxPanels = 8,
): FigureEntry {
  const base = {
    name: 'trajectory_pca',
    title: 'Optimisation trajectories in their first two principal components',
    caption:
      'Each panel is one text; each line one restart, from its random start (circle) to its last step (cross: the kept solution when the restart solved ' +
      "the text; a restart stopped by patience ran on past its best vectors), in the plane of the first two principal components of all the text's " +
      `trajectories (shares of variance in the panel titles). At most ${maxPanels} texts are drawn; trajectory_pca_paths.csv has them all.`,
  };
  if (points.length === 0) return { ...base, skipped: 'no trajectories (vectors_every: 0, or no text analysed yet)' };
  const panels = [...new Set(points.map((p) => p.panel))]
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .slice(0, maxPanels);
  const title = (p: string) =>
    shares[p] ? `${p}: PC1 ${(100 * shares[p][0]).toFixed(0)} %, PC2 ${(100 * shares[p][1]).toFixed(0)} %` : p;
  const values: Record<string, unknown>[] = [];
  for (const panel of panels) {
    const ps = points.filter((p) => p.panel === panel);
    for (const r of [...new Set(ps.map((p) => p.restart))]) {
      const path = ps.filter((p) => p.restart === r).sort((a, b) => a.step - b.step);
      path.forEach((p, i) =>
        values.push({
          panel: title(panel),
          restart: `restart ${r}`,
          step: p.step,
          pc1: round(p.pc1, 5),
          pc2: round(p.pc2, 5),
          end: i === 0 ? 'start' : i === path.length - 1 ? 'solution' : 'path',
        }),
      );
    }
  }
  const restarts = [...new Set(values.map((v) => v.restart as string))].sort(
    (a, b) => Number(a.split(' ')[1]) - Number(b.split(' ')[1]),
  );
  const color = {
    field: 'restart',
    type: 'nominal',
    title: 'Restart',
    sort: restarts,
    scale: { range: palette },
  } as const;
  const x = { field: 'pc1', type: 'quantitative', title: 'PC1', axis: { tickCount: 4 } } as const;
  const y = { field: 'pc2', type: 'quantitative', title: 'PC2', axis: { tickCount: 4 } } as const;
  const spec = facetSpec({
    title: base.title,
    values,
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels.map(title) },
    columns: Math.min(2, panels.length),
    resolve: { scale: { x: 'independent', y: 'independent' } },
    width: PANEL_H + 40,
    height: PANEL_H,
    layer: [
      {
        mark: { type: 'line', strokeWidth: 1.2, opacity: 0.85 },
        encoding: { x, y, color, order: { field: 'step', type: 'quantitative' } },
      },
      {
        transform: [{ filter: "datum.end === 'start'" }],
        mark: { type: 'point', filled: true, size: 40 },
        encoding: { x, y, color },
      },
      {
        transform: [{ filter: "datum.end === 'solution'" }],
        mark: { type: 'point', shape: 'cross', filled: true, size: 70 },
        encoding: { x, y, color },
      },
    ],
    config: { ...CONFIG, header: { ...CONFIG.header, labelFontSize: 11, labelLimit: 640 } },
  });
  return { ...base, spec };
}
