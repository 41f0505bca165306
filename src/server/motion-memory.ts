import { GATE_LIMITS, type GatedAnalysis, type GateLimits, type Thumbnail } from '../detect/motion-gate';
import { DetectError, type FaceBox, type FrameResult } from '../detect/types';

/** An analyzer that can skip the models for a frame that matches a reference (the detector pool does). */
export interface GatingAnalyzer {
  analyzeUnlessStill(jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits, lastFace?: FaceBox | null, likelyStill?: boolean): Promise<GatedAnalysis>;
}

/** Every candidate is fully analysed at least this often, however still the picture: drift and small changes get a fresh look. */
export const MAX_REFERENCE_AGE_MS = 1000;

/**
 * One candidate's side of motion gating. Detector processes serve every candidate and keep nothing, so this keeps
 * the last fully analysed frame's result and thumbnail, sends the thumbnail as the reference while it is younger
 * than MAX_REFERENCE_AGE_MS, and answers a gated frame with that result: the verdict stands.
 * Only fully analysed frames become references, so slow drift adds up until it triggers an analysis.
 * While that last result is `ok` with one face, a changed frame first gets the quick check for that face (a
 * `quick` answer). Neither a gated nor a quick answer refreshes the reference or its time: the full cascade, the
 * only look at the whole frame, runs at least once every MAX_REFERENCE_AGE_MS.
 */
export class MotionMemory {
  private last: { result: FrameResult; thumbnail: Thumbnail; atMs: number } | null = null;
  /**
   * Whether the last frame compared with a reference was gated: the next is then likely still too, which tells the
   * detector what to decode first. A frame analysed because the reference aged out was compared with nothing.
   */
  private lastGated = false;
  /** Frames answered from the reference without running the models. */
  gated = 0;
  /** Frames answered by the quick check (the last analysis's one face found again, BlazeFace alone). */
  quick = 0;
  /** Frames the full cascade ran on. */
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
      const r = last?.result;
      const lastFace = r && r.verdict === 'ok' && r.faces.length === 1 ? r.faces[0]! : null;
      a = await this.analyzer.analyzeUnlessStill(jpeg, last?.thumbnail ?? null, this.limits, lastFace, this.lastGated);
    } catch (err) {
      // A failed frame is no evidence the picture is unchanged: the next one is analysed in full.
      this.last = null;
      this.lastGated = false;
      throw err;
    }
    if (a.difference) this.lastGated = a.kind === 'gated';
    if (a.kind === 'analysed') {
      this.analysed++;
      this.last = { result: a.result, thumbnail: a.thumbnail, atMs: started };
      return a.result;
    }
    if (!last) throw new DetectError('VIGIL_ERR_DETECTOR_CRASH', `the detector answered ${a.kind} for a frame it had no reference for`);
    if (a.kind === 'gated') {
      this.gated++;
      return last.result;
    }
    this.quick++;
    return a.result;
  }
}
