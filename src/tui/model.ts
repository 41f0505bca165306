import type { CandidateStatus, ServerEvent, ServerStatus } from '../protocol';

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
  private selectedId: string | null = null;
  readonly fps = new Map<string, number[]>();
  readonly kbps = new Map<string, number[]>();
  readonly totalFps: number[] = [];

  applyStatus(status: ServerStatus): void {
    this.status = status;
    let total = 0;
    for (const c of status.candidates) {
      if (!this.fps.has(c.id)) {
        this.fps.set(c.id, []);
        this.kbps.set(c.id, []);
      }
      push(this.fps.get(c.id)!, c.video_fps);
      // Throughput in: video bytes are not split out by the server, so the sparkline shows fps and audio kbps.
      push(this.kbps.get(c.id)!, c.audio_kbps);
      total += c.video_fps;
    }
    push(this.totalFps, total);
    for (const id of [...this.fps.keys()]) {
      if (!status.candidates.some((c) => c.id === id)) {
        this.fps.delete(id);
        this.kbps.delete(id);
      }
    }
    if (!this.selected()) this.selectedId = this.visible()[0]?.id ?? null;
  }

  visible(): CandidateStatus[] {
    const all = this.status?.candidates ?? [];
    const f = this.filter.toLowerCase();
    return f ? all.filter((c) => c.id.toLowerCase().includes(f)) : all;
  }

  selected(): CandidateStatus | null {
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
    if (!this.selected()) this.selectedId = this.visible()[0]?.id ?? null;
  }

  openIncidents(): number {
    return (this.status?.candidates ?? []).filter((c) => c.incident !== null).length;
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
