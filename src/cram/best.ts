/**
 * The rules that make an optimisation's result right, kept in one place for every method:
 *
 * - the vectors kept are the ones the best accuracy was MEASURED with, i.e. a step's vectors before that step's update
 *   (a snapshot taken when the accuracy strictly improves, never the updated vectors one step later);
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

  /**
   * One step's accuracy, measured on the vectors before this step's update. On a strict improvement `snapshot()` is
   * called (copy the pre-update vectors there) and true is returned.
   */
  observe(accuracy: number, step: number, snapshot: () => Snapshot): boolean {
    if (accuracy > this.accuracy) {
      this.accuracy = accuracy;
      this.step = step;
      this.kept = snapshot();
      this.sinceImprove = 0;
      return true;
    }
    this.sinceImprove++;
    return false;
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
