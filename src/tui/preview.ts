/**
 * Renders a frame as text: each character cell shows two pixels with the upper half block (U+2580), its
 * foreground the upper pixel and its background the lower, in xterm's 256-colour palette, which works in
 * tmux, over SSH and in every terminal blessed supports. Face boxes are drawn into the pixels first.
 */
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

const BOX_COLOR = 46; // bright green

/** A grid of half-block cells: for cell (x, y), `fg` is the upper pixel's colour and `bg` the lower's. */
export interface CellGrid {
  cols: number;
  rows: number;
  fg: Uint8Array;
  bg: Uint8Array;
}

/**
 * The frame scaled to fit `cols` x `rows` cells (aspect kept), face boxes outlined, as half-block cells in
 * xterm-256 colours.
 */
export function halfBlockGrid(img: Rgb, boxes: Box[], cols: number, rows: number): CellGrid {
  if (cols < 1 || rows < 1 || img.width < 1 || img.height < 1) return { cols: 0, rows: 0, fg: new Uint8Array(0), bg: new Uint8Array(0) };
  // A cell is about twice as tall as wide, so one cell holds two roughly square pixels.
  const scale = Math.min(cols / img.width, (rows * 2) / img.height);
  const w = Math.max(1, Math.floor(img.width * scale));
  const h = Math.max(2, Math.floor((img.height * scale) / 2) * 2);
  const px = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(img.height - 1, Math.floor(y / scale));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(img.width - 1, Math.floor(x / scale));
      const i = (sy * img.width + sx) * img.channels;
      px[y * w + x] = xterm256(img.data[i]!, img.data[i + 1]!, img.data[i + 2]!);
    }
  }
  for (const b of boxes) {
    const x0 = Math.max(0, Math.floor(b.x * scale));
    const y0 = Math.max(0, Math.floor(b.y * scale));
    const x1 = Math.min(w - 1, Math.floor((b.x + b.w) * scale));
    const y1 = Math.min(h - 1, Math.floor((b.y + b.h) * scale));
    for (let x = x0; x <= x1; x++) {
      px[y0 * w + x] = BOX_COLOR;
      px[y1 * w + x] = BOX_COLOR;
    }
    for (let y = y0; y <= y1; y++) {
      px[y * w + x0] = BOX_COLOR;
      px[y * w + x1] = BOX_COLOR;
    }
  }
  const grid: CellGrid = { cols: w, rows: h / 2, fg: new Uint8Array((w * h) / 2), bg: new Uint8Array((w * h) / 2) };
  for (let y = 0; y < h; y += 2) {
    for (let x = 0; x < w; x++) {
      grid.fg[(y / 2) * w + x] = px[y * w + x]!;
      grid.bg[(y / 2) * w + x] = px[(y + 1) * w + x]!;
    }
  }
  return grid;
}

export const HALF_BLOCK = '\u2580';
