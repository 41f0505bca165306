import path from 'node:path';
import type { CV, Mat } from './opencv';
import { DetectError, type FaceBox } from './types';

export const BLAZEFACE_MODEL = path.resolve(__dirname, '..', '..', '..', 'models', 'blazeface_front_128x128.onnx');
const SIZE = 128;

/** BlazeFace's 896 anchors: a 16x16 grid with 2 per cell, then an 8x8 grid with 6 per cell, centres in [0,1]. */
function anchors(): Float32Array {
  const out: number[] = [];
  for (const [stride, perCell] of [[8, 2], [16, 6]] as const) {
    const g = SIZE / stride;
    for (let y = 0; y < g; y++) for (let x = 0; x < g; x++) for (let k = 0; k < perCell; k++) out.push((x + 0.5) / g, (y + 0.5) / g);
  }
  return Float32Array.from(out);
}

function floats(m: Mat): Float32Array {
  const b = m.flattenFloat(m.sizes[1]!, m.sizes[2]!).getData();
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

/**
 * MediaPipe BlazeFace (short range) run by OpenCV's dnn module: input NHWC 1x128x128x3 RGB in [-1, 1], outputs
 * logits and box regressions per anchor (see ../shared/media/README.md and models/LICENSE.blazeface.txt).
 */
export class BlazeFaceDetector {
  readonly name = 'dnn';
  private readonly net;
  private readonly outputs: string[];
  private readonly anchors = anchors();
  /** Best score among candidates below the threshold in the last call, for the no_face confidence. */
  bestRejected = 0;

  constructor(
    private readonly cv: CV,
    private readonly minScore = 0.75,
    private readonly nmsIou = 0.3,
    modelPath = BLAZEFACE_MODEL,
  ) {
    try {
      this.net = cv.readNetFromONNX(modelPath);
    } catch (err) {
      throw new DetectError('VIGIL_ERR_DETECTOR_LOAD', `cannot load the face model ${modelPath}: ${(err as Error).message}`);
    }
    const layers = this.net.getLayerNames();
    this.outputs = this.net.getUnconnectedOutLayers().map((i) => layers[i - 1]!);
  }

  /** The NHWC input tensor for one BGR image, letterboxed to a square so faces keep their shape. */
  private input(img: Mat): { blob: Mat; side: number } {
    const cv = this.cv;
    const side = Math.max(img.rows, img.cols);
    // copyMakeBorder, not a filled `new Mat(...)` + copyTo: the fill-value constructor costs ~12 ms at 320x320.
    const square = img.copyMakeBorder(0, side - img.rows, 0, side - img.cols, cv.BORDER_CONSTANT, new cv.Vec3(0, 0, 0));
    const data = square.resize(SIZE, SIZE).cvtColor(cv.COLOR_BGR2RGB).convertTo(cv.CV_32FC3, 1 / 127.5, -1).getData();
    const px = new Float32Array(data.buffer, data.byteOffset, data.length / 4);
    // Built through nested arrays because Mat#setData copies rows*cols*elemSize bytes, which for an n-dimensional
    // Mat (rows = cols = -1) is a single element, and blobFromImage can only make NCHW, not this model's NHWC.
    const rows = new Array<number[][]>(SIZE);
    for (let y = 0; y < SIZE; y++) {
      const row = new Array<number[]>(SIZE);
      for (let x = 0; x < SIZE; x++) {
        const i = (y * SIZE + x) * 3;
        row[x] = [px[i]!, px[i + 1]!, px[i + 2]!];
      }
      rows[y] = row;
    }
    return { blob: new cv.Mat([rows], cv.CV_32F), side };
  }

  detect(img: Mat): FaceBox[] {
    const cv = this.cv;
    const { blob, side } = this.input(img);
    this.net.setInput(blob);
    const outs = this.net.forward(this.outputs);
    const byAnchors = (a: Mat, b: Mat): number => b.sizes[1]! - a.sizes[1]!;
    const scoreOuts = outs.filter((o) => o.sizes[2] === 1).sort(byAnchors);
    const regOuts = outs.filter((o) => o.sizes[2] === 16).sort(byAnchors);
    if (scoreOuts.length !== 2 || regOuts.length !== 2) throw new DetectError('VIGIL_ERR_DETECTOR_LOAD', 'unexpected BlazeFace outputs');
    const logits = [floats(scoreOuts[0]!), floats(scoreOuts[1]!)];
    const regs = [floats(regOuts[0]!), floats(regOuts[1]!)];
    const rects: InstanceType<CV["Rect"]>[] = [];
    const scores: number[] = [];
    this.bestRejected = 0;
    let anchor = 0;
    for (let part = 0; part < 2; part++) {
      const l = logits[part]!;
      const r = regs[part]!;
      for (let i = 0; i < l.length; i++, anchor++) {
        const score = 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, l[i]!))));
        if (score <= this.minScore) {
          this.bestRejected = Math.max(this.bestRejected, score);
          continue;
        }
        const cx = this.anchors[anchor * 2]! + r[i * 16]! / SIZE;
        const cy = this.anchors[anchor * 2 + 1]! + r[i * 16 + 1]! / SIZE;
        const w = r[i * 16 + 2]! / SIZE;
        const h = r[i * 16 + 3]! / SIZE;
        rects.push(new cv.Rect((cx - w / 2) * side, (cy - h / 2) * side, w * side, h * side));
        scores.push(score);
      }
    }
    if (rects.length === 0) return [];
    return cv.NMSBoxes(rects, scores, 0, this.nmsIou).map((i) => {
      const b = rects[i]!;
      return { x: b.x, y: b.y, w: b.width, h: b.height, score: scores[i]! };
    });
  }
}
