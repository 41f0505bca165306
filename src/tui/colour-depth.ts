// Which colours the preview may use, from what the terminal says of itself.

/** truecolor: 24-bit escapes; 256: xterm's palette; 8: the eight ANSI colours (tmux's default TERM=screen). */
export type ColourDepth = 'truecolor' | '256' | '8';

/**
 * COLORTERM=truecolor/24bit is how terminals announce 24-bit colour (terminfo has no standard flag for it);
 * otherwise the terminfo colour count decides, as blessed read it for TERM.
 */
export function colourDepth(env: NodeJS.ProcessEnv, terminfoColours: number): ColourDepth {
  const ct = (env['COLORTERM'] ?? '').toLowerCase();
  if (ct === 'truecolor' || ct === '24bit') return 'truecolor';
  return terminfoColours >= 256 ? '256' : '8';
}
