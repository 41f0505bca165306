import type { DetectorHealth } from '../detect/health';
import type { FrameResult } from '../detect/types';
import { MotionMemory, type GatingAnalyzer } from './motion-memory';

/** What the server needs back from one analysed frame; `vigil detect` and the detector pool produce it. */
export type FrameAnalysis = FrameResult;

/** The detector slot: what the server needs from face detection, and nothing about how it is done. */
export interface FrameAnalyzer {
  analyze(jpeg: Buffer, timestampMs: number): Promise<FrameAnalysis>;
  /** Whether analysis works now; absent for an analyzer that cannot fail as a whole. */
  readonly health?: DetectorHealth;
  /** Subscribes to changes between up and down; returns the unsubscribe function. */
  onHealth?(listener: (h: DetectorHealth) => void): () => void;
  /** When present, the slot uses it for motion gating (motion-memory.ts). */
  analyzeUnlessStill?: GatingAnalyzer['analyzeUnlessStill'];
}

/**
 * Latest-frame-wins hand-off to an analyzer: at most one frame in analysis and one waiting per candidate.
 * A frame that arrives while one is waiting replaces it, so a slow detector drops analysis frames, never
 * received ones, and ingest never waits.
 */
export class LatestFrameSlot {
  private waiting: { jpeg: Buffer; timestampMs: number } | null = null;
  private busy = false;
  private lastStart = -Infinity;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  /** Frames replaced before analysis. */
  skipped = 0;
  /** Motion gating's per-candidate memory; null when the analyzer cannot gate. */
  private readonly motion: MotionMemory | null;

  constructor(
    private readonly analyzer: FrameAnalyzer,
    private readonly minIntervalMs: number,
    private readonly onResult: (result: FrameAnalysis, timestampMs: number) => void,
    private readonly onError: (err: unknown) => void,
  ) {
    this.motion = analyzer.analyzeUnlessStill ? new MotionMemory({ analyzeUnlessStill: analyzer.analyzeUnlessStill.bind(analyzer) }) : null;
  }

  /** Frames whose verdict was kept from the last full analysis because the picture had not changed (motion gating). */
  get gated(): number {
    return this.motion?.gated ?? 0;
  }

  offer(jpeg: Buffer, timestampMs: number): void {
    if (this.closed) return;
    if (this.waiting) this.skipped++;
    this.waiting = { jpeg, timestampMs };
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.timer || !this.waiting || this.closed) return;
    const wait = this.lastStart + this.minIntervalMs - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      return;
    }
    const frame = this.waiting;
    this.waiting = null;
    this.busy = true;
    this.lastStart = performance.now();
    (this.motion ? this.motion.analyze(frame.jpeg) : this.analyzer.analyze(frame.jpeg, frame.timestampMs)).then(
      (result) => {
        this.busy = false;
        if (!this.closed) this.onResult(result, frame.timestampMs);
        this.pump();
      },
      (err: unknown) => {
        this.busy = false;
        if (!this.closed) this.onError(err);
        this.pump();
      },
    );
  }

  close(): void {
    this.closed = true;
    this.waiting = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
