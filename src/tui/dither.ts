// Pictures for terminals without a palette: grayscale by ordered (Bayer) dithering over shade characters.

/** Darkest to brightest, drawn white on black; the spacing of their ink is close enough to even for a preview. */
export const SHADES = [' ', '\u2591', '\u2592', '\u2593', '\u2588'] as const;

/** The 4x4 Bayer matrix, as thresholds in (0, 1). */
const BAYER4 = [0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5].map((v) => (v + 0.5) / 16);

/**
 * One shade index (into SHADES) per cell for gray levels in [0, 1]. A level between two shades picks the upper one
 * where it exceeds the cell's Bayer threshold, so areas keep their mean brightness and edges stay crisp.
 */
export function ditherShades(gray: Float32Array, cols: number, rows: number): Uint8Array {
  const steps = SHADES.length - 1;
  const out = new Uint8Array(cols * rows);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const v = Math.min(1, Math.max(0, gray[y * cols + x]!)) * steps;
      const base = Math.floor(v);
      const up = v - base > BAYER4[(y & 3) * 4 + (x & 3)]! ? 1 : 0;
      out[y * cols + x] = Math.min(steps, base + up);
    }
  }
  return out;
}

/** The gray level each shade stands for, to read a dithered picture back (tests, and nothing else needs it). */
export function shadeLevel(ch: string): number | null {
  const i = (SHADES as readonly string[]).indexOf(ch);
  return i < 0 ? null : i / (SHADES.length - 1);
}
