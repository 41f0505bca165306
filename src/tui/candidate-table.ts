// The candidate table's columns and rows as blessed-tagged text; apart from console.ts, which only places them.
import blessed from 'blessed';
import type { CandidateStatus } from '../protocol';
import { duration } from '../cli/format';
import { FACE_COLOR } from './model';

export type Column = [string, number, (c: CandidateStatus) => string];

function cell(text: string, width: number): string {
  return text.length > width ? text.slice(0, Math.max(1, width - 1)) + '…' : text.padEnd(width);
}

/** The columns for a terminal `screenWidth` wide: the address only when there is room for it. */
export function tableColumns(screenWidth: number): Column[] {
  const wide = screenWidth >= 100;
  const cols: Column[] = [
    ['ID', wide ? 16 : 12, (c) => c.id],
    ['MODE', 6, (c) => c.mode],
    ['FACE', 15, (c) => c.face],
    ['FPS', 5, (c) => c.video_fps.toFixed(1)],
    ['KBPS', 7, (c) => c.audio_kbps.toFixed(0)],
    ['INCIDENT', 15, (c) => (c.write_error ? 'REC FAILED' : c.incident ?? '-')],
    ['CONN', 7, (c) => duration(c.connected_s)],
  ];
  if (wide) cols.splice(1, 0, ['ADDRESS', 22, (c) => c.address]);
  return cols;
}

export function tableHeader(cols: Column[]): string {
  return cols.map(([h, w]) => cell(h, w)).join(' ');
}

export function tableRow(c: CandidateStatus, cols: Column[]): string {
  return cols
    .map(([h, w, get]) => {
      const text = blessed.escape(cell(get(c), w));
      // A candidate whose recording failed is red across the row, whatever else it shows.
      if (c.write_error && h !== 'FACE') return `{red-fg}{bold}${text}{/}`;
      if (h === 'FACE') return `{${FACE_COLOR[c.face] ?? 'white'}-fg}${text}{/}`;
      if (h === 'INCIDENT' && c.incident) return `{red-fg}${text}{/}`;
      return text;
    })
    .join(' ');
}
