// The candidate table's columns and rows as blessed-tagged text; apart from console.ts, which only places them.
import blessed from 'blessed';
import { duration } from '../cli/format';
import { FACE_COLOR, type TableEntry } from './model';
import { fpsColour, sparkline } from './sparkline-row';

/** What a row needs besides the candidate's status. */
export interface RowContext {
  /** The candidate's video fps, one sample a second for the last minute. */
  fps: (id: string) => readonly number[];
  /** The colour of a row waiting in the resume window: grey, or white where grey would be black (8 colours). */
  dim: string;
}

export type Column = [string, number, (c: TableEntry, ctx: RowContext, width: number) => string];

const SPARK = 'FPS LAST MINUTE';
const SPARK_MAX = 60; // one cell a second

function cell(text: string, width: number): string {
  return text.length > width ? text.slice(0, Math.max(1, width - 1)) + '…' : text.padEnd(width);
}

function faceText(c: TableEntry, width: number): string {
  if (c.resume_left_s === null) return c.face;
  return `${width >= 16 ? 'reconnecting' : 'reconn'} ${c.resume_left_s}s`;
}

/**
 * The columns for a terminal `screenWidth` wide. The address and audio kbps only when there is room; the sparkline
 * takes what is left, up to one cell a second.
 */
export function tableColumns(screenWidth: number): Column[] {
  const tableWidth = screenWidth - 2;
  const wide = screenWidth >= 110;
  const cols: Column[] = [
    ['ID', wide ? 14 : 10, (c) => c.id],
    ['MODE', 5, (c) => c.mode],
    ['FACE', wide ? 16 : 10, (c, _ctx, w) => faceText(c, w)],
    ['FPS', 4, (c) => c.video_fps.toFixed(c.video_fps >= 10 || c.video_fps === 0 ? 0 : 1)],
    [SPARK, 0, (c, ctx, w) => sparkline(ctx.fps(c.id), c.declared_fps ?? 0, w)],
    ['INC', 3, (c) => String(c.incidents)],
    ['INC S', 5, (c) => (c.incident_s >= 1000 ? duration(c.incident_s) : c.incident_s.toFixed(0))],
    ['INCIDENT', wide ? 14 : 10, (c) => (c.write_error ? 'REC FAILED' : c.incident ?? '-')],
    ['CONN', 6, (c) => duration(c.connected_s)],
  ];
  if (wide) cols.splice(1, 0, ['ADDRESS', 21, (c) => c.address]);
  if (screenWidth >= 140) cols.splice(cols.findIndex(([h]) => h === 'INC'), 0, ['KBPS', 5, (c) => c.audio_kbps.toFixed(0)]);
  const fixed = cols.reduce((sum, [, w]) => sum + w, 0) + cols.length - 1;
  const spark = cols.find(([h]) => h === SPARK)!;
  spark[1] = Math.max(3, Math.min(SPARK_MAX, tableWidth - fixed));
  return cols;
}

const tint = (colour: string, text: string): string => `{${colour}-fg}${text}{/${colour}-fg}`;

export function tableHeader(cols: Column[]): string {
  return cols.map(([h, w]) => cell(h, w)).join(' ');
}

/** The row's text without colours (the selection bar's row). */
export function rowText(c: TableEntry, cols: Column[], ctx: RowContext): string {
  return blessed.escape(cols.map(([, w, get]) => cell(get(c, ctx, w), w)).join(' '));
}

/** The row in colour. Tags are closed by name, not with {/}, so a row can sit inside another tag. */
export function tableRow(c: TableEntry, cols: Column[], ctx: RowContext): string {
  // A candidate in the resume window is one grey row: nothing on it is live.
  if (c.resume_left_s !== null) return `{${ctx.dim}-fg}${rowText(c, cols, ctx)}{/${ctx.dim}-fg}`;
  return cols
    .map(([h, w, get]) => {
      const text = blessed.escape(cell(get(c, ctx, w), w));
      // A candidate whose recording failed is red across the row, whatever else it shows.
      if (c.write_error && h !== 'FACE') return `{red-fg}{bold}${text}{/bold}{/red-fg}`;
      if (h === 'FACE') return tint(FACE_COLOR[c.face] ?? 'white', text);
      if (h === SPARK) return tint(fpsColour(c.video_fps, c.declared_fps ?? 0), text);
      if (h === 'INCIDENT' && c.incident) return tint('red', text);
      return text;
    })
    .join(' ');
}
