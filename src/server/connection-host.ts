// The contract between a CandidateConnection and the server that owns it (settings, admission, lifecycle calls),
// apart from connection.ts so either side can be read without the other.
import type { ByeReasonName, HelloMessage, PayloadLimits, ProtocolError, ServerEvent } from '../protocol';
import type { CandidateConnection } from './connection';
import type { AnalysisTurns } from './analysis-turns';
import type { FrameAnalyzer } from './frame-slot';
import type { Session } from './session';

/** Settings every connection shares, resolved from the server's options. */
export interface ConnectionSettings {
  limits: PayloadLimits;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  closeTimeoutMs: number;
  maxOutboundBytes: number;
  recorderHighWaterBytes: number;
  /** How far a capture timestamp may run ahead of the session's own clock before it is refused. */
  maxClockLeadMs: number;
  /** Messages per second a connection may average (bursts of twice that pass). */
  maxMessagesPerSecond: number;
  /** Replies may wait unread this long before the candidate is dropped as a slow consumer. */
  drainTimeoutMs: number;
  analyzer: FrameAnalyzer | null;
  /** The analyzer's turns, shared by every candidate's slot; null without an analyzer. */
  analysisTurns: AnalysisTurns | null;
  analyzeIntervalMs: number;
  /** While a candidate is not ok, the VERDICT is repeated this often. */
  verdictRepeatMs: number;
}

export type Admission = { ok: true; session: Session; resumed: boolean } | { ok: false; reason: ByeReasonName; text: string };

/** What a connection needs from the server that owns it; kept narrow so the two stay separable. */
export interface ConnectionHost {
  readonly settings: ConnectionSettings;
  admit(conn: CandidateConnection, hello: HelloMessage): Promise<Admission>;
  welcomed(conn: CandidateConnection, session: Session, resumed: boolean): void;
  released(conn: CandidateConnection): void;
  dropped(conn: CandidateConnection, reason: ByeReasonName, error: ProtocolError | null, message: string): void;
  sessionEnded(conn: CandidateConnection, session: Session, ended: string): Promise<void>;
  /** The connection died under a live session: the server may keep the session for a resume. */
  sessionLost(conn: CandidateConnection, session: Session, why: string): void;
  publish(event: ServerEvent): void;
}
