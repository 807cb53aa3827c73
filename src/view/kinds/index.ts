/**
 * Each experiment kind's part of `cram view`, by kind name (as kinds/index.ts lists the kinds). A kind missing here
 * gets the default view (every scalar field); its figures and tables come from its report either way.
 */
import { capacityView } from './capacity.ts';
import { progressiveView } from './progressive.ts';
import { defaultView, type KindView } from './types.ts';

const VIEWS: Readonly<Record<string, KindView>> = {
  capacity: capacityView,
  progressive: progressiveView,
};

export function kindView(kind: string): KindView {
  return VIEWS[kind] ?? defaultView;
}

export type { CurveSeries, KindView, Row } from './types.ts';
export { TEXT_FIELDS, fmt, recordRegeneration } from './types.ts';
