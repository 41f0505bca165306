/** Box arithmetic shared by the detectors and the verdict. Boxes are in pixels; x/y is the top-left corner. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export function iou(a: Rect, b: Rect): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy non-maximum suppression: the best-scoring boxes win, overlapping ones above `maxIou` go. */
export function nms<T extends Rect & { score: number }>(boxes: T[], maxIou: number): T[] {
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const b of sorted) if (kept.every((k) => iou(k, b) <= maxIou)) kept.push(b);
  return kept;
}

/** The fraction of the box's area inside a `width` x `height` frame (1: entirely in view). */
export function insideFraction(b: Rect, width: number, height: number): number {
  const ix = Math.max(0, Math.min(b.x + b.w, width) - Math.max(b.x, 0));
  const iy = Math.max(0, Math.min(b.y + b.h, height) - Math.max(b.y, 0));
  const area = b.w * b.h;
  return area > 0 ? (ix * iy) / area : 0;
}

export function scaleRect<T extends Rect>(b: T, sx: number, sy = sx): T {
  return { ...b, x: b.x * sx, y: b.y * sy, w: b.w * sx, h: b.h * sy };
}
