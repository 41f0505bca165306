/** The shapes a preview picture is made from, and xterm's 256-colour palette (see picture.ts for the drawing). */
export interface Rgb {
  width: number;
  height: number;
  /** RGBA or RGB bytes, `channels` per pixel. */
  data: Uint8Array;
  channels: 3 | 4;
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** xterm-256 index of the nearest colour in the 6x6x6 cube or the grey ramp. */
export function xterm256(r: number, g: number, b: number): number {
  const level = (v: number): number => (v < 48 ? 0 : v < 115 ? 1 : Math.min(5, Math.floor((v - 35) / 40)));
  const cubeValue = [0, 95, 135, 175, 215, 255];
  const [lr, lg, lb] = [level(r), level(g), level(b)];
  const cube = 16 + 36 * lr + 6 * lg + lb;
  const cubeErr = (cubeValue[lr]! - r) ** 2 + (cubeValue[lg]! - g) ** 2 + (cubeValue[lb]! - b) ** 2;
  const avg = (r + g + b) / 3;
  const grey = Math.max(0, Math.min(23, Math.round((avg - 8) / 10)));
  const greyValue = 8 + grey * 10;
  const greyErr = (greyValue - r) ** 2 + (greyValue - g) ** 2 + (greyValue - b) ** 2;
  return greyErr < cubeErr ? 232 + grey : cube;
}

export const HALF_BLOCK = '\u2580';
