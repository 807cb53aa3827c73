/**
 * The rules that make an optimisation's result right, kept in one place for every method:
 *
 * - the vectors kept are the ones the best accuracy was MEASURED with, i.e. a step's vectors before that step's update
 *   (a snapshot taken when the accuracy strictly improves, or ties it with a lower loss where the method passes its
 *   loss; never the updated vectors one step later);
 * - patience counts steps since the last strict improvement;
 * - one stop-reason union and one rule to pick it.
 */

/** Why an optimisation ended: every predicted token right, no improvement for `patience` steps, the step limit, or a
 * non-finite loss. */
export type StopReason = 'solved' | 'patience' | 'max_steps' | 'diverged';

export interface StopLimits {
  maxSteps: number;
  patience: number;
}

/** The best accuracy so far, the step it was measured at, and a snapshot of what was measured then. */
export class BestSoFar<Snapshot> {
  /** Best accuracy so far (−1 before the first step). */
  accuracy = -1;
  /** 1-based step of `accuracy`. */
  step = 0;
  sinceImprove = 0;
  kept: Snapshot | null = null;

  /** Loss of the kept snapshot, where the method passes losses (Infinity before the first). */
  keptLoss = Infinity;

  /**
   * One step's accuracy, measured on the vectors before this step's update. On a strict improvement `snapshot()` is
   * called (copy the pre-update vectors there) and true is returned. With `loss`, a step that ties the best accuracy
   * with a lower loss is kept too (so a run whose accuracy never improves keeps its lowest-loss vectors, not the random
   * step-1 ones); patience still counts strict accuracy improvements only, as the paper's code does.
   */
  observe(accuracy: number, step: number, snapshot: () => Snapshot, loss?: number): boolean {
    const improved = accuracy > this.accuracy;
    const lowerTie = !improved && loss !== undefined && accuracy === this.accuracy && loss < this.keptLoss;
    if (improved || lowerTie) {
      this.step = step;
      this.kept = snapshot();
      if (loss !== undefined) this.keptLoss = loss;
    }
    if (improved) {
      this.accuracy = accuracy;
      this.sinceImprove = 0;
    } else {
      this.sinceImprove++;
    }
    return improved || lowerTie;
  }

  /**
   * After a step: null to go on, else why it ends. `solvedNow`: every prediction of this step was right; `steps`: steps
   * done (this one included).
   */
  stop(limits: StopLimits, steps: number, solvedNow: boolean, diverged = false): StopReason | null {
    if (diverged) return 'diverged';
    if (!solvedNow && this.sinceImprove < limits.patience && steps < limits.maxSteps) return null;
    return this.accuracy === 1 ? 'solved' : steps >= limits.maxSteps ? 'max_steps' : 'patience';
  }
}
