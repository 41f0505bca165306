import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { colourDepth } from '../src/tui/colour-depth';
import { shadeLevel } from '../src/tui/dither';
import { downscale, renderPicture, truecolorEscapes } from '../src/tui/picture';
import { MEDIA } from './helpers';

function face(): { width: number; height: number; data: Uint8Array; channels: 4 } {
  const img = jpeg.decode(readFileSync(path.join(MEDIA, 'faces', 'grace-hopper.jpg')), { useTArray: true });
  return { width: img.width, height: img.height, data: img.data, channels: 4 };
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i]! - ma) * (b[i]! - mb);
    va += (a[i]! - ma) ** 2;
    vb += (b[i]! - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}

/** Means over `k` x `k` blocks: what the eye sees of a dithered picture from a step back. */
function blur(v: ArrayLike<number>, cols: number, rows: number, k: number): number[] {
  const out: number[] = [];
  for (let y = 0; y + k <= rows; y += k) {
    for (let x = 0; x + k <= cols; x += k) {
      let s = 0;
      for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) s += v[(y + dy) * cols + x + dx]!;
      out.push(s / (k * k));
    }
  }
  return out;
}

test('the colour depth comes from COLORTERM, else from the terminfo colour count', () => {
  assert.equal(colourDepth({ COLORTERM: 'truecolor' }, 8), 'truecolor');
  assert.equal(colourDepth({ COLORTERM: '24bit' }, 256), 'truecolor');
  assert.equal(colourDepth({}, 256), '256');
  assert.equal(colourDepth({ COLORTERM: 'rxvt' }, 8), '8');
  assert.equal(colourDepth({}, 8), '8'); // tmux's default TERM=screen
});

test('one face still at the three colour depths: gray shades that follow the picture, the 256-colour cube, 24-bit escapes', () => {
  const img = face();
  const [cols, rows] = [78, 44];

  // 8 colours: shade characters only, white on black, and read back as gray levels they follow the frame's own
  // gray levels at the same size (a broken mapping, e.g. shades reversed or scrambled, correlates near 0 or below).
  const eight = renderPicture(img, [], cols, rows, '8');
  assert.ok(eight.cols > 30 && eight.rows > 20, `${eight.cols}x${eight.rows} cells`);
  const levels = eight.ch.map((c) => shadeLevel(c));
  assert.ok(levels.every((l) => l !== null), 'every cell is a shade character');
  assert.ok(eight.fg.every((c) => c === 7) && eight.bg.every((c) => c === 0), 'white on black');
  const used = new Set(eight.ch);
  assert.ok(used.size >= 4, `${used.size} different shades: a picture, not a posterised blob`);
  const small = downscale(img, eight.cols, eight.rows);
  const gray = Array.from({ length: eight.cols * eight.rows }, (_, i) => 0.299 * small[i * 3]! + 0.587 * small[i * 3 + 1]! + 0.114 * small[i * 3 + 2]!);
  const perCell = correlation(levels as number[], gray);
  const seen = correlation(blur(levels as number[], eight.cols, eight.rows, 2), blur(gray, eight.cols, eight.rows, 2));
  assert.ok(perCell > 0.75, `per-cell correlation ${perCell.toFixed(3)}`);
  assert.ok(seen > 0.9, `correlation over 2x2 cells ${seen.toFixed(3)}`);
  // Against another image the same way it does not correlate like that: the number measures this picture.
  const other = downscale({ ...img, data: Uint8Array.from(img.data).reverse() }, eight.cols, eight.rows);
  const otherGray = Array.from({ length: eight.cols * eight.rows }, (_, i) => other[i * 3 + 1]!);
  assert.ok(correlation(levels as number[], otherGray) < 0.5);

  // 256 colours: half blocks whose colours are taken from xterm's 6x6x6 cube or gray ramp (16-255), two pixels a cell.
  const pal = renderPicture(img, [], cols, rows, '256');
  assert.equal(pal.rgb, null);
  assert.ok(pal.ch.every((c) => c === '\u2580'));
  assert.ok([...pal.fg, ...pal.bg].every((c) => c >= 16 && c <= 255), 'only cube and gray-ramp colours');
  assert.ok(new Set([...pal.fg, ...pal.bg].filter((c) => c < 232)).size > 10, 'colours from the cube, not only grays');
  assert.equal(pal.cols, eight.cols);

  // truecolor: every cell of the output carries 24-bit foreground and background escapes with the pixels' colours.
  const tc = renderPicture(img, [], cols, rows, 'truecolor');
  assert.ok(tc.rgb && tc.rgb.length === tc.cols * tc.rows * 6);
  // ESC shown as '~' so the patterns stay readable (and free of control characters).
  const out = truecolorEscapes(tc, 2, 1, tc.cols, tc.rows).replaceAll('\x1b', '~');
  const cells = out.match(/~\[38;2;\d+;\d+;\d+;48;2;\d+;\d+;\d+m\u2580/g) ?? [];
  assert.equal(cells.length, tc.cols * tc.rows);
  assert.match(out, /^~7~\[3;2H/, 'placed at the given cell, cursor saved');
  assert.match(out, /~8$/, 'cursor restored');
  const first = /~\[38;2;(\d+);(\d+);(\d+);/.exec(out)!.slice(1).map(Number);
  assert.deepEqual(first, [...tc.rgb.subarray(0, 3)]);
  assert.ok(new Set(cells.slice(0, 500)).size > 100, 'many distinct 24-bit colours');
});

test('face boxes are drawn at every depth', () => {
  const img = face();
  const box = [{ x: 150, y: 100, w: 200, h: 250 }];
  assert.ok(renderPicture(img, box, 60, 30, '8').fg.includes(2), 'green outline in 8 colours');
  assert.ok(renderPicture(img, box, 60, 30, '256').fg.includes(46), 'green outline in 256 colours');
  const tc = renderPicture(img, box, 60, 30, 'truecolor');
  assert.ok(truecolorEscapes(tc, 0, 0, tc.cols, tc.rows).includes('38;2;0;255;0'), 'green outline in 24-bit');
});
