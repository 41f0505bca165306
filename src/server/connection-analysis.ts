// One connection's face analysis: the slot its frames are offered to, and when the candidate is due a VERDICT.
// Apart from connection.ts, which dispatches messages and owns the socket.
import type { Logger } from 'pino';
import type { HelloMessage } from '../protocol';
import { DetectError } from '../detect/types';
import type { ConnectionSettings } from './connection-host';
import { LatestFrameSlot, type FrameAnalysis } from './frame-slot';
import type { Session } from './session';

/** The slot for a candidate with video when the server analyses frames; null otherwise. */
export function analysisSlot(s: ConnectionSettings, hello: HelloMessage, session: Session, log: Logger, onResult: (r: FrameAnalysis, ts: number) => void): LatestFrameSlot | null {
  if (!s.analyzer || !hello.video) return null;
  // While detection is down every frame is refused; the outage itself is logged once, not per frame.
  return new LatestFrameSlot(s.analyzer, s.analyzeIntervalMs, onResult, (err) =>
    err instanceof DetectError && err.code === 'VIGIL_ERR_DETECTOR_DOWN' ? undefined : log.warn({ err }, 'frame analysis failed'),
  session.analysis,
  s.analysisTurns,
  );
}

/** Tells the candidate at once when the verdict changes, and keeps reminding while it is not ok. */
export class VerdictNotices {
  private sent: FrameAnalysis['verdict'] | null = null;
  private sentAt = -Infinity;

  constructor(private readonly repeatMs: number) {}

  /** True when a VERDICT for `verdict` is due now; it is then counted as sent. */
  due(verdict: FrameAnalysis['verdict']): boolean {
    const now = performance.now();
    const repeat = verdict !== 'ok' && now - this.sentAt >= this.repeatMs;
    if (verdict === this.sent && !repeat) return false;
    this.sent = verdict;
    this.sentAt = now;
    return true;
  }
}
