import type { DetectorHealth } from '../detect/health';
import type { FrameResult } from '../detect/types';
import { MotionMemory, type GatingAnalyzer } from './motion-memory';
import { AnalysisStats } from './analysis-stats';
import type { AnalysisTurns, TurnTaker } from './analysis-turns';

/** What the server needs back from one analysed frame; `vigil detect` and the detector pool produce it. */
export type FrameAnalysis = FrameResult;

/** The detector slot: what the server needs from face detection, and nothing about how it is done. */
export interface FrameAnalyzer {
  analyze(jpeg: Buffer, timestampMs: number): Promise<FrameAnalysis>;
  /** Whether analysis works now; absent for an analyzer that cannot fail as a whole. */
  readonly health?: DetectorHealth;
  /** Subscribes to changes between up and down; returns the unsubscribe function. */
  onHealth?(listener: (h: DetectorHealth) => void): () => void;
  /** Detector processes behind it, which sets how many analyses the server keeps in flight (analysis-turns.ts). */
  readonly size?: number;
  /** When present, the slot uses it for motion gating (motion-memory.ts). */
  analyzeUnlessStill?: GatingAnalyzer['analyzeUnlessStill'];
}

/**
 * Latest-frame-wins hand-off to an analyzer: at most one frame in analysis and one waiting per candidate.
 * A frame that arrives while one is waiting replaces it, so a slow detector drops analysis frames, never
 * received ones, and ingest never waits. With `turns` (shared by all candidates, analysis-turns.ts) the slot
 * waits for its turn and only then takes its newest frame.
 */
export class LatestFrameSlot implements TurnTaker {
  // The waiting frame in plain fields rather than an object, so offering a frame allocates nothing.
  private waitingJpeg: Buffer | null = null;
  private waitingTs = 0;
  private waitingAt = 0;
  /** Arrival of the oldest frame offered since the last analysis took its frame: where a change could first show. */
  private unseenSince: number | null = null;
  private busy = false;
  /** Asked `turns` for a turn and not had it yet. */
  private inLine = false;
  /** When the last analysis started (performance.now()): the turns serve the longest-waiting candidate first. */
  lastStart = -Infinity;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  /** Frames replaced before analysis (by this slot; `stats.skipped` counts across a session's connections). */
  skipped = 0;
  /** Motion gating's per-candidate memory; null when the analyzer cannot gate. */
  private readonly motion: MotionMemory | null;

  constructor(
    private readonly analyzer: FrameAnalyzer,
    private readonly minIntervalMs: number,
    private readonly onResult: (result: FrameAnalysis, timestampMs: number) => void,
    private readonly onError: (err: unknown) => void,
    readonly stats: AnalysisStats = new AnalysisStats(),
    private readonly turns: AnalysisTurns | null = null,
  ) {
    this.motion = analyzer.analyzeUnlessStill ? new MotionMemory({ analyzeUnlessStill: analyzer.analyzeUnlessStill.bind(analyzer) }) : null;
  }

  /** Frames whose verdict was kept from the last full analysis because the picture had not changed (motion gating). */
  get gated(): number {
    return this.motion?.gated ?? 0;
  }

  /** Frames answered by the quick check for the last analysis's one face (motion-memory.ts). */
  get quick(): number {
    return this.motion?.quick ?? 0;
  }

  /** Called as the frame is received (the connection offers it in the same tick it decodes it). */
  offer(jpeg: Buffer, timestampMs: number): void {
    if (this.closed) return;
    const now = performance.now();
    if (this.waitingJpeg) {
      this.skipped++;
      this.stats.skipped++;
    }
    this.waitingJpeg = jpeg;
    this.waitingTs = timestampMs;
    this.waitingAt = now;
    this.unseenSince ??= now;
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.timer || this.inLine || !this.waitingJpeg || this.closed) return;
    const wait = this.lastStart + this.minIntervalMs - performance.now();
    if (wait > 0) {
      // Whole milliseconds: Node keeps one timer list per distinct delay (a fractional one makes a list per frame).
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, Math.ceil(wait));
      return;
    }
    if (this.turns) {
      this.inLine = true;
      this.turns.request(this);
      return;
    }
    void this.start();
  }

  /** Called by the turns: analyses the newest waiting frame, if the slot still has one. */
  takeTurn(): Promise<void> {
    this.inLine = false;
    return this.start();
  }

  /** Analyses the waiting frame; settles, never rejects, once its result is applied or its failure reported. */
  private start(): Promise<void> {
    if (this.busy || !this.waitingJpeg || this.closed) return Promise.resolve();
    const jpeg = this.waitingJpeg;
    const timestampMs = this.waitingTs;
    const arrivedAt = this.waitingAt;
    const unseenSince = this.unseenSince ?? arrivedAt;
    this.waitingJpeg = null;
    this.unseenSince = null;
    this.busy = true;
    this.lastStart = performance.now();
    const gatedBefore = this.gated;
    const quickBefore = this.quick;
    return (this.motion ? this.motion.analyze(jpeg) : this.analyzer.analyze(jpeg, timestampMs)).then(
      (result) => {
        this.busy = false;
        if (!this.closed) {
          // onResult applies the verdict and writes the VERDICT when one is due, so the clock stops after it.
          this.onResult(result, timestampMs);
          const done = performance.now();
          this.stats.record(this.gated > gatedBefore ? 'gated' : this.quick > quickBefore ? 'quick' : 'detected', done - arrivedAt, done - unseenSince, done);
        }
        this.pump();
      },
      (err: unknown) => {
        this.busy = false;
        if (!this.closed) {
          this.stats.failed++;
          this.onError(err);
        }
        this.pump();
      },
    );
  }

  close(): void {
    this.closed = true;
    this.turns?.withdraw(this);
    this.inLine = false;
    this.waitingJpeg = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
