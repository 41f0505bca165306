import type { CandidateStatus } from '../protocol';

export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Left-aligned text columns, right-aligned numbers: the shape `ps` and `docker ps` users read at a glance. */
export function table(headers: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export const STATUS_HEADERS = ['ID', 'ADDRESS', 'MODE', 'CONNECTED', 'VIDEO FPS', 'AUDIO KBPS', 'BYTES IN', 'FRAMES REC', 'FACE', 'INCIDENT'];
const RIGHT = new Set([3, 4, 5, 6, 7]);

export function statusTable(candidates: CandidateStatus[]): string {
  const rows = candidates.map((c) => [
    c.id,
    c.address,
    c.mode,
    duration(c.connected_s),
    c.video_fps.toFixed(1),
    c.audio_kbps.toFixed(1),
    bytes(c.bytes_in),
    c.write_error ? `${c.frames_recorded} FAILED` : String(c.frames_recorded),
    c.face,
    c.incident ?? '-',
  ]);
  return table(STATUS_HEADERS, rows, RIGHT);
}
