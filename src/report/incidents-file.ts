// incidents.jsonl as the report reads it: a line when an incident opens, one when it closes. Lines a crash or a
// full disk cut are named, never fatal; an incident that never closed ends where the recording ends.

export interface FaceBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Who closed an incident: the server as it happened, the server's crash repair at its next start, or this report. */
export type ClosedBy = 'server' | 'repair' | 'report';

export interface TimelineIncident {
  id: number;
  kind: string;
  start_s: number;
  /** Null only until `closeOpenIncidents` has given an end to an incident the file never closed. */
  end_s: number | null;
  closedBy: ClosedBy;
  frames: number | null;
  peakConfidence: number | null;
  /** Face boxes at the incident's start, when the server recorded them (current servers do not). */
  faces: FaceBox[] | null;
}

export interface ParsedIncidents {
  incidents: TimelineIncident[];
  /** 1-based numbers of lines that are not a readable incident event. */
  badLines: number[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function boxes(v: unknown): FaceBox[] | null {
  if (!Array.isArray(v)) return null;
  const out: FaceBox[] = [];
  for (const b of v as unknown[]) {
    if (isObj(b) && finite(b['x']) && finite(b['y']) && finite(b['w']) && finite(b['h'])) out.push({ x: b['x'], y: b['y'], w: b['w'], h: b['h'] });
  }
  return out;
}

export function parseIncidents(text: string): ParsedIncidents {
  const byId = new Map<number, TimelineIncident>();
  const badLines: number[] = [];
  const lines = text.split('\n');
  // A file that ends in a newline splits into a last empty string, which is no line.
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      badLines.push(i + 1);
      return;
    }
    if (!isObj(e) || (e['event'] !== 'open' && e['event'] !== 'close') || !finite(e['id']) || typeof e['kind'] !== 'string' || !finite(e['start_s'])) {
      badLines.push(i + 1);
      return;
    }
    const prev = byId.get(e['id']);
    const end = finite(e['end_s']) ? e['end_s'] : null;
    const faces = boxes(e['faces']) ?? prev?.faces ?? null;
    const inc: TimelineIncident = {
      id: e['id'],
      kind: e['kind'],
      start_s: e['start_s'],
      end_s: e['event'] === 'close' ? (end ?? e['start_s']) : null,
      closedBy: e['closed_by'] === 'repair' ? 'repair' : 'server',
      frames: finite(e['frames']) ? e['frames'] : (prev?.frames ?? null),
      peakConfidence: finite(e['peak_confidence']) ? e['peak_confidence'] : (prev?.peakConfidence ?? null),
      faces,
    };
    // An open after its close (never written by a server) must not reopen it.
    if (prev && prev.end_s !== null && inc.end_s === null) return;
    byId.set(inc.id, inc);
  });
  return { incidents: [...byId.values()].sort((a, b) => a.start_s - b.start_s || a.id - b.id), badLines };
}

/** Gives every incident the file left open an end: where the recording (or session) ends. Returns how many. */
export function closeOpenIncidents(incidents: TimelineIncident[], endS: number): number {
  let n = 0;
  for (const i of incidents) {
    if (i.end_s !== null) continue;
    i.end_s = Math.max(i.start_s, endS);
    i.closedBy = 'report';
    n++;
  }
  return n;
}
