import path from 'node:path';
import { nms, type Rect } from './geometry';
import { OnnxModel } from './onnx';
import type { CV, Mat } from './opencv';
import { PixelBuffer } from './pixels';
import { DetectError } from './types';

export const BLAZEFACE_MODEL = path.resolve(__dirname, '..', '..', '..', 'models', 'blazeface_front_128x128.onnx');
const SIZE = 128;
/** The side of BlazeFace's square input, in pixels: a window smaller than this is enlarged to it. */
export const BLAZEFACE_INPUT = SIZE;

/** BlazeFace's 896 anchors: a 16x16 grid with 2 per cell, then an 8x8 grid with 6 per cell, centres in [0,1]. */
function anchors(): Float32Array {
  const out: number[] = [];
  for (const [stride, perCell] of [[8, 2], [16, 6]] as const) {
    const g = SIZE / stride;
    for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) for (let k = 0; k < perCell; k++) out.push((x + 0.5) / g, (y + 0.5) / g);
  }
  return Float32Array.from(out);
}
const ANCHORS = anchors();
/** Byte to BlazeFace's input range [-1, 1], looked up rather than divided 49,152 times a window. */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, b) => b / 127.5 - 1);

/** The six landmarks BlazeFace predicts, in its order. */
export const LANDMARKS = ['right_eye', 'left_eye', 'nose', 'mouth', 'right_ear', 'left_ear'] as const;

export interface BlazeHit extends Rect {
  score: number;
  /** The six landmarks (see LANDMARKS), x/y pairs in the image's pixels; they may lie outside the image. */
  landmarks: Array<[number, number]>;
}

/** A square window of the image, which may reach beyond its borders (the outside is black). */
export interface Window {
  x: number;
  y: number;
  side: number;
}

/** What a window shows beyond the image's edges: black, or the image mirrored or smeared outwards. */
export type Border = 'black' | 'reflect' | 'replicate';

/** The square window of the image (pixels beyond its edges filled as `border` says); null when it misses the image. */
export function windowOf(cv: CV, img: Mat, win: Window, border: Border): Mat | null {
  const side = Math.max(1, Math.round(win.side));
  const x0 = Math.round(win.x);
  const y0 = Math.round(win.y);
  const sx = Math.max(0, x0);
  const sy = Math.max(0, y0);
  const ex = Math.min(img.cols, x0 + side);
  const ey = Math.min(img.rows, y0 + side);
  if (ex <= sx || ey <= sy) return null;
  const crop = img.getRegion(new cv.Rect(sx, sy, ex - sx, ey - sy));
  if (ex - sx === side && ey - sy === side) return crop;
  const type = border === 'black' ? cv.BORDER_CONSTANT : border === 'reflect' ? cv.BORDER_REFLECT_101 : cv.BORDER_REPLICATE;
  const bordered = crop.copyMakeBorder(sy - y0, y0 + side - ey, sx - x0, x0 + side - ex, type, new cv.Vec3(0, 0, 0));
  // The region shares `img`'s pixels: until it is released, releasing `img` would free nothing.
  crop.release();
  return bordered;
}

/**
 * MediaPipe BlazeFace, short range (Apache-2.0; see models/README.md): NHWC 1x128x128x3 RGB in [-1, 1]; per
 * anchor a logit and 16 regressions (box centre and size, six landmarks) in pixels of the 128x128 input. It wants
 * a face filling a good part of its input, so the detector shows it a window around each proposal rather than the
 * whole frame; there it is a second opinion (animal faces and textures that fool UltraFace score low) and it
 * predicts the landmarks and the whole face box even where the frame cuts the face.
 */
export class BlazeFace {
  private readonly input = new Float32Array(SIZE * SIZE * 3);
  private readonly pixels = new PixelBuffer(SIZE, SIZE);

  private constructor(
    private readonly cv: CV,
    private readonly model: OnnxModel,
  ) {}

  static async load(cv: CV, file = BLAZEFACE_MODEL): Promise<BlazeFace> {
    return new BlazeFace(cv, await OnnxModel.load(file));
  }

  /** Faces scoring above `minScore` in the window, in the image's pixels. */
  async inspect(img: Mat, win: Window, minScore: number, border: Border = 'black'): Promise<BlazeHit[]> {
    const cv = this.cv;
    const crop = windowOf(cv, img, win, border);
    if (!crop) return [];
    const side = crop.cols;
    const x0 = Math.round(win.x);
    const y0 = Math.round(win.y);
    const sized = crop.resize(SIZE, SIZE, 0, 0, cv.INTER_AREA);
    // Both freed now, not at the next major GC (see UltraFace.propose); `crop` may be a region of `img`, whose
    // pixels release() leaves alone.
    crop.release();
    const px = this.pixels.read(sized);
    sized.release();
    const f = this.input;
    for (let j = 0; j < f.length; j += 3) {
      f[j] = TO_UNIT[px[j + 2]!]!;
      f[j + 1] = TO_UNIT[px[j + 1]!]!;
      f[j + 2] = TO_UNIT[px[j]!]!;
    }
    const out = [...(await this.model.run(f, [1, SIZE, SIZE, 3])).values()];
    // Two score tensors (512 and 384 anchors, one value each) and two regressor tensors (16 values each).
    const byAnchors = (a: { dims: readonly number[] }, b: { dims: readonly number[] }): number => (b.dims[1] ?? 0) - (a.dims[1] ?? 0);
    const scores = out.filter((o) => o.dims[2] === 1).sort(byAnchors);
    const regs = out.filter((o) => o.dims[2] === 16).sort(byAnchors);
    if (scores.length !== 2 || regs.length !== 2) throw new DetectError('VIGIL_ERR_DETECTOR_LOAD', 'unexpected BlazeFace outputs');
    const k = side / SIZE;
    const hits: BlazeHit[] = [];
    // Nearly every anchor scores far below minScore: compare logits first, the sigmoid only for those near it.
    const minLogit = Math.log(minScore / (1 - minScore)) - 1e-3;
    let anchor = 0;
    for (let part = 0; part < 2; part++) {
      const logits = scores[part]!.data;
      const r = regs[part]!.data;
      for (let i = 0; i < logits.length; i++, anchor++) {
        if (logits[i]! < minLogit) continue;
        const score = 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, logits[i]!))));
        if (score <= minScore) continue;
        const ax = ANCHORS[anchor * 2]! * SIZE;
        const ay = ANCHORS[anchor * 2 + 1]! * SIZE;
        const o = i * 16;
        const w = r[o + 2]!;
        const h = r[o + 3]!;
        const landmarks: Array<[number, number]> = [];
        for (let l = 0; l < LANDMARKS.length; l++) landmarks.push([x0 + (ax + r[o + 4 + l * 2]!) * k, y0 + (ay + r[o + 5 + l * 2]!) * k]);
        hits.push({ x: x0 + (ax + r[o]! - w / 2) * k, y: y0 + (ay + r[o + 1]! - h / 2) * k, w: w * k, h: h * k, score, landmarks });
      }
    }
    return nms(hits, 0.3);
  }
}
