// Writes a picture straight into blessed's screen buffer; apart from console.ts because it reaches into blessed's
// internals (the cell arrays), which nothing else in the console does.
import type blessed from 'blessed';
import type { Picture } from './picture';

/**
 * Paints the picture's cells into the screen buffer inside `pos` (a bordered box with one info line), after the box
 * has drawn itself. Content strings would not do: blessed counts escape sequences as width and would crop the
 * picture. A cell attribute is blessed's (flags << 18 | fg << 9 | bg), with fg and bg as 256-colour indexes
 * (blessed reduces them to what the terminal has). Returns where the picture went, for the truecolor pass.
 */
export function paintCells(screen: blessed.Widgets.Screen, pos: blessed.Widgets.PositionCoords, g: Picture): { top: number; left: number; cols: number; rows: number } {
  const lines = (screen as unknown as { lines: Array<Array<[number, string]> & { dirty?: boolean }> }).lines;
  const top = pos.yi + 2;
  const left = pos.xi + 1;
  const rows = Math.max(0, Math.min(g.rows, pos.yl - 1 - top));
  const cols = Math.max(0, Math.min(g.cols, pos.xl - 1 - left));
  for (let y = 0; y < rows; y++) {
    const line = lines[top + y];
    if (!line) continue;
    for (let x = 0; x < cols; x++) {
      const i = y * g.cols + x;
      line[left + x] = [(g.fg[i]! << 9) | g.bg[i]!, g.ch[i]!];
    }
    line.dirty = true;
  }
  return { top, left, cols, rows };
}
