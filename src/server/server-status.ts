// The snapshot `vigil status` and the console show: connected candidates, sessions waiting for a resume and the
// server's counters. Apart from server.ts, which only hands over what it holds.
import path from 'node:path';
import type { ByeReasonName, DetectionStatus, ServerStatus } from '../protocol';
import type { CandidateConnection } from './connection';
import type { DetachedSessions } from './detached-sessions';

export interface StatusSources {
  version: string;
  listen: string;
  recordDir: string;
  startedAt: Date;
  connections: Iterable<CandidateConnection>;
  detached: DetachedSessions;
  drops: Partial<Record<ByeReasonName, number>>;
  detection: DetectionStatus;
  recordingFailures: number;
}

export function serverStatus(s: StatusSources): ServerStatus {
  const candidates = [];
  for (const conn of s.connections) {
    if (conn.isOpen && conn.session) candidates.push(conn.session.status(conn.remoteAddress));
  }
  candidates.sort((a, b) => a.id.localeCompare(b.id));
  const reconnecting = s.detached.waiting().map(({ session, conn, leftMs }) => ({ ...session.status(conn.remoteAddress), resume_left_s: Math.ceil(leftMs / 1000) }));
  return {
    version: s.version,
    listen: s.listen,
    record_dir: path.resolve(s.recordDir),
    started_at: s.startedAt.toISOString(),
    uptime_s: Math.round((Date.now() - s.startedAt.getTime()) / 100) / 10,
    candidates,
    reconnecting,
    drops: { ...s.drops },
    detection: s.detection,
    recording_failures: s.recordingFailures,
  };
}
