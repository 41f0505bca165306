import type { CandidateStatus, ServerEvent, ServerStatus } from '../protocol';
import { sortEntries, type SortKey } from './sort';

/** A row of the table: a connected candidate, or one waiting in the resume window (`resume_left_s` set). */
export type TableEntry = CandidateStatus & { resume_left_s: number | null };

/** Samples kept per candidate for the sparklines: one a second, one minute. */
export const HISTORY = 60;

function push(arr: number[], v: number): void {
  arr.push(v);
  if (arr.length > HISTORY) arr.shift();
}

/**
 * The console's state without any drawing: the latest status, throughput history, the selection and filter.
 * Kept apart from blessed so its rules can be read (and tested) on their own.
 */
export class ConsoleModel {
  status: ServerStatus | null = null;
  filter = '';
  sort: SortKey = 'attention';
  private selectedId: string | null = null;
  private rows: TableEntry[] = [];
  /** visible()'s answer until the rows, the filter or the order change: the console asks for it many times a draw. */
  private view: TableEntry[] | null = null;
  /** Per candidate, video fps a second for the last minute (oldest first), for the row's sparkline. */
  readonly fps = new Map<string, number[]>();
  /** Video fps of all candidates together. */
  totalFps = 0;

  applyStatus(status: ServerStatus): void {
    this.status = status;
    this.rows = this.entries();
    this.view = null;
    this.totalFps = 0;
    const present = new Set<string>();
    for (const c of this.rows) {
      present.add(c.id);
      let history = this.fps.get(c.id);
      if (!history) this.fps.set(c.id, (history = []));
      push(history, c.video_fps);
      this.totalFps += c.video_fps;
    }
    for (const id of this.fps.keys()) if (!present.has(id)) this.fps.delete(id);
    if (!this.selected()) this.selectedId = this.visible()[0]?.id ?? null;
  }

  /** Every row before the filter: connected candidates, then those reconnecting (an older server sends no `reconnecting`). */
  private entries(): TableEntry[] {
    const live = (this.status?.candidates ?? []).map((c) => ({ ...c, resume_left_s: null }));
    const waiting = (this.status?.reconnecting ?? []).map((c) => ({ ...c, resume_left_s: c.resume_left_s }));
    return [...live, ...waiting];
  }

  /** The rows the table shows: filtered by id, in the current order. */
  visible(): TableEntry[] {
    if (this.view) return this.view;
    const f = this.filter.toLowerCase();
    return (this.view = sortEntries(f ? this.rows.filter((c) => c.id.toLowerCase().includes(f)) : [...this.rows], this.sort));
  }

  setSort(key: SortKey): void {
    this.sort = key;
    this.view = null;
  }

  selected(): TableEntry | null {
    return this.visible().find((c) => c.id === this.selectedId) ?? null;
  }

  selectedIndex(): number {
    return this.visible().findIndex((c) => c.id === this.selectedId);
  }

  move(delta: number): void {
    const list = this.visible();
    if (list.length === 0) return;
    const i = Math.max(0, Math.min(list.length - 1, this.selectedIndex() + delta));
    this.selectedId = list[i]!.id;
  }

  setFilter(filter: string): void {
    this.filter = filter.trim();
    this.view = null;
    if (!this.selected()) this.selectedId = this.visible()[0]?.id ?? null;
  }

  openIncidents(): number {
    return (this.status?.candidates ?? []).filter((c) => c.incident !== null).length;
  }

  reconnecting(): number {
    return this.status?.reconnecting?.length ?? 0;
  }
}

export const FACE_COLOR: Record<string, string> = {
  ok: 'green',
  misaligned: 'yellow',
  no_face: 'red',
  multiple_faces: 'red',
  unknown: 'grey',
};

function esc(text: string): string {
  // blessed reads {...} as tags; user-controlled text must not be able to inject them.
  return text.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

/** One event-log line in blessed tags, or null for events the log does not show. */
export function eventLine(e: ServerEvent): string | null {
  const time = e.at.slice(11, 19);
  const id = 'id' in e && e.id ? `{bold}${esc(e.id)}{/bold}` : '';
  switch (e.kind) {
    case 'candidate_joined':
      return `${time} ${id} joined from ${esc(e.address)}`;
    case 'candidate_left':
      return `${time} ${id} left (${esc(e.ended)}; ${e.frames_recorded} frames, ${e.audio_s.toFixed(1)} s audio recorded)`;
    case 'face_status':
      return `${time} ${id} face {${FACE_COLOR[e.face] ?? 'white'}-fg}${e.face}{/}${e.faces > 1 ? ` (${e.faces} faces)` : ''}`;
    case 'incident_opened':
      return `${time} ${id} {red-fg}incident ${esc(e.incident.kind)}{/} opened at ${e.incident.start_s.toFixed(1)} s`;
    case 'incident_closed':
      return `${time} ${id} incident ${esc(e.incident.kind)} closed: ${e.incident.start_s.toFixed(1)}-${(e.incident.end_s ?? 0).toFixed(1)} s`;
    case 'mode_changed':
      return `${time} ${id} switched to ${e.mode}`;
    case 'kicked':
      return `${time} ${id} {red-fg}kicked{/}: ${esc(e.reason)}`;
    case 'detector_down':
      return `${time} {red-fg}{bold}detection unavailable{/}: ${esc(e.reason)} (faces unknown; recording continues)`;
    case 'detector_up':
      return `${time} {green-fg}detection available again{/} after ${e.down_s.toFixed(1)} s`;
    case 'recording_failed':
      return `${time} ${id} {red-fg}{bold}RECORDING FAILED{/}{red-fg} ${esc(e.file)}${e.errno ? ` ${e.errno}` : ''}: ${esc(e.message)}{/}`;
    case 'connection_dropped':
      return `${time} {yellow-fg}dropped{/} ${esc(e.address)}${e.id ? ` (${esc(e.id)})` : ''}: ${e.reason}${e.code ? ` ${e.code}` : ''} - ${esc(e.message)}`;
  }
}
