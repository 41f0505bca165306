// The WELCOME a candidate gets once admitted: its session, the limits, and on a resume where to go on from.
// Apart from connection.ts, which sends it.
import type { HelloMessage, WelcomeMessage } from '../protocol';
import type { ConnectionSettings } from './connection-host';
import { snapshotIntervalFor } from './media-intake-v2';
import type { Session } from './session';

export function welcomeFor(hello: HelloMessage, session: Session, resumed: boolean, s: ConnectionSettings): WelcomeMessage {
  return {
    type: 'welcome',
    sessionId: session.init.sessionId,
    mode: session.mode,
    limits: s.limits,
    idleTimeoutMs: s.idleTimeoutMs,
    resumed,
    lastVideoSeq: session.lastVideoSeq,
    lastAudioSeq: session.lastAudioSeq,
    resumeAtMs: resumed ? Math.max(session.ageMs, session.lastVideoTs, session.lastAudioTs) : 0,
    ...snapshotIntervalFor(hello, s.analyzer ? s.analyzeIntervalMs : null),
  };
}
