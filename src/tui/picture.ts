/**
 * A preview frame as terminal cells at the terminal's colour depth:
 * - truecolor and 256: the upper half block (U+2580) per cell, its foreground the upper pixel and its background
 *   the lower, in 24-bit colour or xterm's 256-colour palette;
 * - 8 colours: one gray level per cell, ordered-dithered over shade characters, white on black, because eight
 *   hues cannot draw a face but five shades with dithering can.
 * Face boxes are drawn over the picture in green.
 */
import type { ColourDepth } from './colour-depth';
import { SHADES, ditherShades } from './dither';
import { HALF_BLOCK, xterm256, type Box, type Rgb } from './preview';

export interface Picture {
  depth: ColourDepth;
  cols: number;
  rows: number;
  /** Per cell: the character, and its colours as 256-colour indexes (what blessed's screen buffer holds). */
  ch: string[];
  fg: Uint8Array;
  bg: Uint8Array;
  /** truecolor only: per cell, the upper pixel's r, g, b then the lower's. */
  rgb: Uint8Array | null;
}

const GREEN_256 = 46;
const GREEN_8 = 2;
const WHITE_8 = 7;
const BLACK_8 = 0;

/** The image averaged down to `outW` x `outH` pixels (box filter: every source pixel counts once), as RGB floats. */
export function downscale(img: Rgb, outW: number, outH: number): Float32Array {
  const out = new Float32Array(outW * outH * 3);
  const xs = Array.from({ length: outW + 1 }, (_, x) => Math.floor((x * img.width) / outW));
  for (let y = 0; y < outH; y++) {
    const y0 = Math.floor((y * img.height) / outH);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * img.height) / outH));
    for (let x = 0; x < outW; x++) {
      const x0 = xs[x]!;
      const x1 = Math.max(x0 + 1, xs[x + 1]!);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++) {
        let i = (sy * img.width + x0) * img.channels;
        for (let sx = x0; sx < x1; sx++, i += img.channels) {
          r += img.data[i]!;
          g += img.data[i + 1]!;
          b += img.data[i + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * outW + x) * 3;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
    }
  }
  return out;
}

/** Gray levels in [0, 1], stretched between the 2nd and 98th percentile so a dim webcam still shows a face. */
export function grayLevels(rgb: Float32Array): Float32Array {
  const n = rgb.length / 3;
  const gray = new Float32Array(n);
  for (let i = 0; i < n; i++) gray[i] = (0.299 * rgb[i * 3]! + 0.587 * rgb[i * 3 + 1]! + 0.114 * rgb[i * 3 + 2]!) / 255;
  const sorted = Float32Array.from(gray).sort();
  const lo = sorted[Math.floor(n * 0.02)] ?? 0;
  const hi = sorted[Math.min(n - 1, Math.floor(n * 0.98))] ?? 1;
  const span = hi - lo > 0.05 ? hi - lo : 1;
  for (let i = 0; i < n; i++) gray[i] = Math.min(1, Math.max(0, (gray[i]! - lo) / span));
  return gray;
}

/** Marks the outline of each box (in the source image's pixels) on a `w` x `h` grid scaled by `sx`, `sy`. */
function boxMask(boxes: Box[], w: number, h: number, sx: number, sy: number): Uint8Array {
  const mask = new Uint8Array(w * h);
  for (const b of boxes) {
    const x0 = Math.max(0, Math.floor(b.x * sx));
    const y0 = Math.max(0, Math.floor(b.y * sy));
    const x1 = Math.min(w - 1, Math.floor((b.x + b.w) * sx));
    const y1 = Math.min(h - 1, Math.floor((b.y + b.h) * sy));
    if (x1 < x0 || y1 < y0) continue;
    for (let x = x0; x <= x1; x++) mask[y0 * w + x] = mask[y1 * w + x] = 1;
    for (let y = y0; y <= y1; y++) mask[y * w + x0] = mask[y * w + x1] = 1;
  }
  return mask;
}

const EMPTY = (depth: ColourDepth): Picture => ({ depth, cols: 0, rows: 0, ch: [], fg: new Uint8Array(0), bg: new Uint8Array(0), rgb: null });

/** The frame fitted into `cols` x `rows` cells with its aspect kept (a cell is about twice as tall as wide). */
export function renderPicture(img: Rgb, boxes: Box[], cols: number, rows: number, depth: ColourDepth): Picture {
  if (cols < 1 || rows < 1 || img.width < 1 || img.height < 1) return EMPTY(depth);
  const scale = Math.min(cols / img.width, (rows * 2) / img.height);
  const w = Math.max(1, Math.floor(img.width * scale));
  const cellRows = Math.max(1, Math.floor((img.height * scale) / 2));
  const n = w * cellRows;
  const pic: Picture = { depth, cols: w, rows: cellRows, ch: new Array<string>(n), fg: new Uint8Array(n), bg: new Uint8Array(n), rgb: null };
  if (depth === '8') {
    const shades = ditherShades(grayLevels(downscale(img, w, cellRows)), w, cellRows);
    const mask = boxMask(boxes, w, cellRows, w / img.width, cellRows / img.height);
    for (let i = 0; i < n; i++) {
      pic.ch[i] = mask[i] ? SHADES[SHADES.length - 1] : SHADES[shades[i]!]!;
      pic.fg[i] = mask[i] ? GREEN_8 : WHITE_8;
      pic.bg[i] = BLACK_8;
    }
    return pic;
  }
  const h = cellRows * 2;
  const px = downscale(img, w, h);
  const mask = boxMask(boxes, w, h, w / img.width, h / img.height);
  if (depth === 'truecolor') pic.rgb = new Uint8Array(n * 6);
  pic.ch.fill(HALF_BLOCK);
  for (let y = 0; y < cellRows; y++) {
    for (let x = 0; x < w; x++) {
      const cell = y * w + x;
      for (const half of [0, 1] as const) {
        const p = (y * 2 + half) * w + x;
        const [r, g, b] = mask[p] ? [0, 255, 0] : [Math.round(px[p * 3]!), Math.round(px[p * 3 + 1]!), Math.round(px[p * 3 + 2]!)];
        const idx = mask[p] ? GREEN_256 : xterm256(r, g, b);
        if (half === 0) pic.fg[cell] = idx;
        else pic.bg[cell] = idx;
        if (pic.rgb) pic.rgb.set([r, g, b], cell * 6 + half * 3);
      }
    }
  }
  return pic;
}

/**
 * A truecolor picture as terminal output placed at (`top`, `left`) (0-based), clipped to `maxCols` x `maxRows`;
 * written after blessed has drawn, since blessed itself only knows 256 colours. Cursor saved and restored.
 */
export function truecolorEscapes(p: Picture, top: number, left: number, maxCols: number, maxRows: number): string {
  if (!p.rgb) return '';
  const rgb = p.rgb;
  let out = '\x1b7';
  for (let y = 0; y < Math.min(p.rows, maxRows); y++) {
    out += `\x1b[${top + y + 1};${left + 1}H`;
    for (let x = 0; x < Math.min(p.cols, maxCols); x++) {
      const o = (y * p.cols + x) * 6;
      out += `\x1b[38;2;${rgb[o]};${rgb[o + 1]};${rgb[o + 2]};48;2;${rgb[o + 3]};${rgb[o + 4]};${rgb[o + 5]}m${p.ch[y * p.cols + x]}`;
    }
  }
  return out + '\x1b[0m\x1b8';
}
