// sessions.csv and incidents.csv: RFC 4180 (CRLF line ends, a header row, fields quoted when they hold a comma,
// a quote, or a line break; quotes doubled), UTF-8, for spreadsheets and LMS imports. The columns are documented in
// README.md; keep the two in step.
import { FACE_KINDS, type SessionReview } from './read-session';
import type { IncidentImage } from './thumbnails';

export type Cell = string | number | boolean | null;

export function csvField(v: Cell): string {
  if (v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvText(header: readonly string[], rows: Cell[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

const r3 = (v: number): number => Math.round(v * 1000) / 1000;

export const SESSION_COLUMNS = [
  'rank', 'priority', 'candidate_id', 'session_id', 'started_at', 'ended_at', 'duration_s', 'ended', 'end_cause',
  'frames_written', 'audio_seconds', 'frames_lost', 'audio_seconds_lost', 'incidents',
  'no_face_s', 'misaligned_s', 'multiple_faces_s', 'speech_s', 'disconnected_s', 'problems', 'folder',
] as const;

export function sessionsCsv(ranked: SessionReview[]): string {
  const rows = ranked.map((s, i): Cell[] => {
    const kindS = (k: string): number => r3(s.incidents.filter((x) => x.kind === k).reduce((a, x) => a + ((x.end_s ?? x.start_s) - x.start_s), 0));
    return [
      i + 1, s.score, s.candidateId, s.sessionId, s.startedAt?.toISOString() ?? null, s.endedAt?.toISOString() ?? null, r3(s.durationS),
      s.ended, s.facts?.endCause ?? null, s.recording?.videoFrames ?? s.facts?.framesWritten ?? null, r3(s.recording?.audioEndS ?? s.facts?.audioSeconds ?? NaN),
      s.facts?.framesLost ?? null, s.facts?.audioSecondsLost ?? null, s.incidents.length,
      kindS('no_face'), kindS('misaligned'), kindS('multiple_faces'), kindS('speech'), kindS('disconnected'),
      s.problems.map((p) => p.what).join('; '), s.rel,
    ];
  });
  return csvText(SESSION_COLUMNS, rows);
}

export const INCIDENT_COLUMNS = [
  'rank', 'candidate_id', 'session_id', 'incident_id', 'kind', 'start_s', 'end_s', 'duration_s', 'started_at',
  'frames', 'peak_confidence', 'closed_by', 'image', 'image_frame_s',
] as const;

export function incidentsCsv(ranked: SessionReview[], images: ReadonlyMap<string, IncidentImage>): string {
  const rows: Cell[][] = [];
  ranked.forEach((s, i) => {
    for (const x of s.incidents) {
      const end = x.end_s ?? x.start_s;
      const img = FACE_KINDS.has(x.kind) ? images.get(imageKey(s, x.id)) : undefined;
      rows.push([
        i + 1, s.candidateId, s.sessionId, x.id, x.kind, r3(x.start_s), r3(end), r3(end - x.start_s),
        s.startedAt ? new Date(s.startedAt.getTime() + x.start_s * 1000).toISOString() : null,
        x.frames, x.peakConfidence === null ? null : r3(x.peakConfidence), x.closedBy,
        img?.ok ? img.href : null, img?.ok ? img.frameS : null,
      ]);
    }
  });
  return csvText(INCIDENT_COLUMNS, rows);
}

/** Key of an incident's picture: unique across the report. */
export function imageKey(s: SessionReview, incidentId: number): string {
  return `${s.rel}#${incidentId}`;
}
