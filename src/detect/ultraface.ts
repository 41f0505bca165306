import path from 'node:path';
import { nms, type Rect } from './geometry';
import { OnnxModel } from './onnx';
import type { Mat } from './opencv';
import { PixelBuffer } from './pixels';
import { DetectError } from './types';

export const ULTRAFACE_MODEL = path.resolve(__dirname, '..', '..', '..', 'models', 'ultraface_rfb_320.onnx');
const W = 320;
const H = 240;
/** Byte to UltraFace's input, (b - 127) / 128, looked up rather than computed 230,400 times a frame. */
const NORMALISED = Float32Array.from({ length: 256 }, (_, b) => (b - 127) / 128);

export interface Proposal extends Rect {
  score: number;
}

/**
 * Ultra-Light-Fast-Generic-Face-Detector-1MB ("RFB-320", MIT; see models/README.md): input 1x3x240x320 RGB as
 * (pixel - 127) / 128, outputs per-prior face probabilities and boxes already decoded to fractions of the image.
 * Its smallest priors are 10 px of the 320x240 input, so it finds faces from about 4 % of the frame width: the
 * candidate who sits back, and the second person in the room. It also fires on some animal faces and textures,
 * which is why the detector has BlazeFace look again at each proposal (detector.ts).
 */
export class UltraFace {
  private readonly input = new Float32Array(3 * W * H);
  private readonly pixels = new PixelBuffer(H, W);

  private constructor(private readonly model: OnnxModel) {}

  static async load(file = ULTRAFACE_MODEL): Promise<UltraFace> {
    return new UltraFace(await OnnxModel.load(file));
  }

  /**
   * Faces scoring above `minScore` in a BGR image, in that image's pixels, plus the best score below it (how close
   * the frame came to showing a face). The image is stretched to 320x240 as the model was trained.
   */
  async propose(img: Mat, minScore: number): Promise<{ faces: Proposal[]; bestRejected: number }> {
    const small = img.cols === W && img.rows === H ? img : img.resize(H, W);
    const px = this.pixels.read(small);
    // Released now rather than at some later GC: OpenCV reports every Mat to V8 as external memory, and that
    // memory piling up between GCs started most of the detector's major (full heap) collections.
    if (small !== img) small.release();
    const n = W * H;
    const f = this.input;
    // HWC BGR bytes to CHW RGB floats in one pass.
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      f[i] = NORMALISED[px[j + 2]!]!;
      f[n + i] = NORMALISED[px[j + 1]!]!;
      f[2 * n + i] = NORMALISED[px[j]!]!;
    }
    const out = await this.model.run(f, [1, 3, H, W]);
    const scores = out.get('scores')?.data;
    const boxes = out.get('boxes')?.data;
    if (!scores || !boxes || scores.length * 2 !== boxes.length) throw new DetectError('VIGIL_ERR_DETECTOR_LOAD', 'unexpected UltraFace outputs');
    const sx = img.cols;
    const sy = img.rows;
    const found: Proposal[] = [];
    let bestRejected = 0;
    for (let i = 0; i < scores.length / 2; i++) {
      const s = scores[i * 2 + 1]!;
      if (s <= minScore) {
        if (s > bestRejected) bestRejected = s;
        continue;
      }
      const x1 = boxes[i * 4]! * sx;
      const y1 = boxes[i * 4 + 1]! * sy;
      found.push({ x: x1, y: y1, w: boxes[i * 4 + 2]! * sx - x1, h: boxes[i * 4 + 3]! * sy - y1, score: s });
    }
    return { faces: nms(found, 0.4), bestRejected };
  }
}
