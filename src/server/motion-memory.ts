import { GATE_LIMITS, type GatedAnalysis, type GateLimits, type Thumbnail } from '../detect/motion-gate';
import { DetectError, type FrameResult } from '../detect/types';

/** An analyzer that can skip the models for a frame that matches a reference (the detector pool does). */
export interface GatingAnalyzer {
  analyzeUnlessStill(jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits): Promise<GatedAnalysis>;
}

/** Every candidate is fully analysed at least this often, however still the picture: drift and small changes get a fresh look. */
export const MAX_REFERENCE_AGE_MS = 1000;

/**
 * One candidate's side of motion gating. Detector processes serve every candidate and keep nothing, so this keeps
 * the last fully analysed frame's result and thumbnail, sends the thumbnail as the reference while it is younger
 * than MAX_REFERENCE_AGE_MS, and answers a gated frame with that result: the verdict stands.
 * Only fully analysed frames become references, so slow drift adds up until it triggers an analysis.
 */
export class MotionMemory {
  private last: { result: FrameResult; thumbnail: Thumbnail; atMs: number } | null = null;
  /** Frames answered from the reference without running the models. */
  gated = 0;
  /** Frames the models ran on. */
  analysed = 0;

  constructor(
    private readonly analyzer: GatingAnalyzer,
    private readonly limits: GateLimits = GATE_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async analyze(jpeg: Buffer): Promise<FrameResult> {
    const started = this.now();
    const last = this.last && started - this.last.atMs < MAX_REFERENCE_AGE_MS ? this.last : null;
    let a: GatedAnalysis;
    try {
      a = await this.analyzer.analyzeUnlessStill(jpeg, last?.thumbnail ?? null, this.limits);
    } catch (err) {
      // A failed frame is no evidence the picture is unchanged: the next one is analysed in full.
      this.last = null;
      throw err;
    }
    if (a.kind === 'gated' && last) {
      this.gated++;
      return last.result;
    }
    if (a.kind === 'gated') throw new DetectError('VIGIL_ERR_DETECTOR_CRASH', 'the detector gated a frame it had no reference for');
    this.analysed++;
    this.last = { result: a.result, thumbnail: a.thumbnail, atMs: started };
    return a.result;
  }
}
