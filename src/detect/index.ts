export { DetectorPool, type PoolOptions } from './pool';
export type { DetectorHealth, PoolLog } from './health';
export { IncidentTracker, type Incident, type IncidentEvent, type IncidentKind } from './incidents';
export { DEFAULT_THRESHOLDS, judge, type VerdictThresholds } from './verdict';
export { DetectError, DETECTOR_NAMES, type DetectorName, type FaceBox, type FaceVerdict, type FrameResult } from './types';
