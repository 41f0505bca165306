// A candidate's video fps over the last minute as one line of block characters, for its row in the table.

const BLOCKS = ['\u2581', '\u2582', '\u2583', '\u2584', '\u2585', '\u2586', '\u2587', '\u2588'] as const;

/**
 * `samples` (oldest first, one a second) drawn `width` cells wide on a fixed scale from 0 to `max` (the declared
 * fps), so a steady stream at its declared rate is a full bar and a stall is a visible dip. Several samples share a
 * cell by their mean when the minute does not fit; a cell with no samples yet is blank, and so is 0 fps, so that a
 * stalled candidate's line empties out. Values above `max` are drawn full.
 */
export function sparkline(samples: readonly number[], max: number, width: number): string {
  if (width < 1) return '';
  const per = Math.max(1, Math.ceil(samples.length / width));
  const cells: string[] = [];
  // Newest samples at the right edge; the buckets are counted back from the newest.
  for (let end = samples.length; end > 0 && cells.length < width; end -= per) {
    const bucket = samples.slice(Math.max(0, end - per), end);
    const mean = bucket.reduce((a, b) => a + b, 0) / bucket.length;
    cells.push(mean <= 0 || !(max > 0) ? ' ' : BLOCKS[Math.min(BLOCKS.length - 1, Math.max(0, Math.ceil((mean / max) * BLOCKS.length) - 1))]!);
  }
  return cells.reverse().join('').padStart(width);
}

/** A colour for the line from the latest sample against the declared fps: the eye finds the slow ones. */
export function fpsColour(latest: number, max: number): 'green' | 'yellow' | 'red' {
  if (!(max > 0)) return 'green';
  const r = latest / max;
  return r >= 0.8 ? 'green' : r >= 0.5 ? 'yellow' : 'red';
}
