// Writes a half-block picture straight into blessed's screen buffer; apart from console.ts because it reaches
// into blessed's internals (the cell arrays), which nothing else in the console does.
import type blessed from 'blessed';
import { HALF_BLOCK, type CellGrid } from './preview';

/**
 * Paints the preview cells into the screen buffer inside `pos` (a bordered box with one info line), after the box
 * has drawn itself. Content strings would not do: blessed counts escape sequences as width and would crop the
 * picture. A cell attribute is blessed's (flags << 18 | fg << 9 | bg), with fg and bg as 256-colour indexes.
 */
export function paintCells(screen: blessed.Widgets.Screen, pos: blessed.Widgets.PositionCoords, g: CellGrid): void {
  const lines = (screen as unknown as { lines: Array<Array<[number, string]> & { dirty?: boolean }> }).lines;
  const top = pos.yi + 2;
  const left = pos.xi + 1;
  for (let y = 0; y < g.rows && top + y < pos.yl - 1; y++) {
    const line = lines[top + y];
    if (!line) continue;
    for (let x = 0; x < g.cols && left + x < pos.xl - 1; x++) {
      line[left + x] = [(g.fg[y * g.cols + x]! << 9) | g.bg[y * g.cols + x]!, HALF_BLOCK];
    }
    line.dirty = true;
  }
}
