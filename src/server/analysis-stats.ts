/**
 * Per-candidate figures on face analysis for `vigil status`: how many frames were analysed, skipped by the
 * latest-frame slot, or failed, how often verdicts come, and how long after a frame's arrival its verdict was
 * applied (and the VERDICT, if one was due, written to the socket). Always on, so it is counted in fixed rings:
 * nothing is allocated per frame, and only a status request sorts anything.
 */
import type { CandidateStatus, LatencySummary } from '../protocol';

/** Latencies kept for the percentiles: the last this many verdicts (about 50 s at the default 5 per second). */
export const LATENCY_WINDOW = 256;
/** The analysis rate is taken over this window. */
export const ANALYSIS_RATE_WINDOW_MS = 5_000;
/** Verdict times kept for the rate; rates up to RATE_RING / 5 s per second are counted exactly. */
const RATE_RING = 256;

/**
 * How a verdict was reached: `detected` by the detector, `gated` when a cheap check found the frame unchanged
 * and reused the previous verdict, `quick` when the quick check found the last analysis's one face again
 * (counted apart so the rate and latency cover all three, and the split shows).
 */
export type VerdictSource = 'detected' | 'gated' | 'quick';

/** The keys `vigil status --json` shows per candidate about analysis. */
export type AnalysisFigures = Pick<
  CandidateStatus,
  'analyses' | 'analysis_gated' | 'analysis_quick' | 'analysis_skipped' | 'analysis_failed' | 'analysis_rate' | 'verdict_latency_ms' | 'change_latency_ms'
>;

/** Fixed-size ring of numbers; the newest overwrite the oldest. */
class Ring {
  private readonly values: Float64Array;
  private next = 0;
  count = 0;

  constructor(size: number) {
    this.values = new Float64Array(size);
  }

  push(v: number): void {
    this.values[this.next] = v;
    this.next = (this.next + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
  }

  /** The i-th newest value (0 = newest). */
  newest(i: number): number {
    return this.values[(this.next - 1 - i + this.values.length * 2) % this.values.length]!;
  }

  summary(): LatencySummary | null {
    if (this.count === 0) return null;
    const sorted = this.values.slice(0, this.count).sort();
    const at = (q: number): number => round1(sorted[Math.min(this.count - 1, Math.ceil(q * this.count) - 1)]!);
    return { p50: at(0.5), p99: at(0.99), max: round1(sorted[this.count - 1]!), n: this.count };
  }
}

export class AnalysisStats {
  /** Frames the detector analysed. */
  analyses = 0;
  /** Frames answered with the previous verdict because they had not changed. */
  gated = 0;
  /** Frames answered by the quick check (motion-memory.ts) rather than a full analysis. */
  quick = 0;
  /** Frames replaced in the slot by a newer one before any analysis. */
  skipped = 0;
  /** Analyses that failed (detector error, crash or timeout). */
  failed = 0;
  private readonly verdictLatency = new Ring(LATENCY_WINDOW);
  private readonly changeLatency = new Ring(LATENCY_WINDOW);
  private readonly verdictTimes = new Ring(RATE_RING);

  /**
   * One verdict applied. `latencyMs`: from the analysed frame's arrival; `changeLatencyMs`: from the arrival of
   * the oldest frame no earlier analysis had seen, i.e. how late a change on camera is reported at worst.
   */
  record(source: VerdictSource, latencyMs: number, changeLatencyMs: number, now = performance.now()): void {
    if (source === 'gated') this.gated++;
    else if (source === 'quick') this.quick++;
    else this.analyses++;
    this.verdictLatency.push(latencyMs);
    this.changeLatency.push(changeLatencyMs);
    this.verdictTimes.push(now);
  }

  /** Verdicts (detected, gated and quick) per second over the last 5 s, or over `ageMs` when the session is younger. */
  rate(ageMs: number, now = performance.now()): number {
    const cutoff = now - ANALYSIS_RATE_WINDOW_MS;
    let n = 0;
    while (n < this.verdictTimes.count && this.verdictTimes.newest(n) >= cutoff) n++;
    if (n === RATE_RING) return (n * 1000) / Math.max(1, now - this.verdictTimes.newest(n - 1));
    return (n * 1000) / Math.min(ANALYSIS_RATE_WINDOW_MS, Math.max(ageMs, 1));
  }

  figures(ageMs: number, now = performance.now()): AnalysisFigures {
    return {
      analyses: this.analyses,
      analysis_gated: this.gated,
      analysis_quick: this.quick,
      analysis_skipped: this.skipped,
      analysis_failed: this.failed,
      analysis_rate: round1(this.rate(ageMs, now)),
      verdict_latency_ms: this.verdictLatency.summary(),
      change_latency_ms: this.changeLatency.summary(),
    };
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
