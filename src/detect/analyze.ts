import { DEFAULT_DNN, DnnDetector } from './dnn';
import type { Rect } from './geometry';
import { HaarDetector, DEFAULT_HAAR, type HaarOptions } from './haar';
import type { CV, Mat } from './opencv';
import { DetectError, type DetectorName, type FaceBox, type FrameResult } from './types';
import { judge, type VerdictThresholds } from './verdict';

export interface FaceDetector {
  readonly name: string;
  /** Best score among rejected candidates in the last call (0 when the detector has no such notion). */
  readonly bestRejected: number;
  /** True when the detector needs the frame at full size rather than halved. */
  readonly fullResolution?: boolean;
  detect(img: Mat): Promise<FaceBox[]>;
  /** The quick check (dnn only): the face at `last` found again cheaply, or null when only a full look can tell. */
  track?(img: Mat, last: Rect): Promise<FaceBox | null>;
  /**
   * How many times smaller than the frame the quick check for `last` (frame pixels) may decode it and still see
   * that face at its model's full input size: 1, 2, 4 or 8.
   */
  trackReduction?(last: Rect): number;
}

export interface DetectorConfig {
  detector: DetectorName;
  thresholds: VerdictThresholds;
  /** Score a face needs: the DNN's second look (BlazeFace, default 0.75). */
  minScore?: number;
  haar?: HaarOptions;
}

export async function createDetector(cv: CV, config: DetectorConfig): Promise<FaceDetector> {
  if (config.detector === 'haar') return new HaarDetector(cv, config.haar ?? DEFAULT_HAAR);
  return DnnDetector.load(cv, { ...DEFAULT_DNN, ...(config.minScore !== undefined ? { verifyScore: config.minScore } : {}) });
}

/** Width and height from a JPEG's SOF segment, without decoding it. */
export function jpegSize(buf: Buffer): { width: number; height: number } | null {
  let i = 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1]!;
    const len = buf.readUInt16BE(i + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    }
    i += 2 + len;
  }
  return null;
}

/**
 * Frames at least this wide are decoded at half size (libjpeg scales while decoding, so this is also the cheapest
 * decode): the DNN's proposer sees 320x240 anyway, and Haar's faces stay above 24 px.
 */
const REDUCE_FROM_WIDTH = 480;

const REDUCED_COLOR = (cv: CV, reduce: number): number =>
  reduce >= 8 ? cv.IMREAD_REDUCED_COLOR_8 : reduce >= 4 ? cv.IMREAD_REDUCED_COLOR_4 : reduce >= 2 ? cv.IMREAD_REDUCED_COLOR_2 : cv.IMREAD_COLOR;

/** A JPEG decoded `reduce` times smaller, the size of the frame as sent, and the factors from its pixels to the frame's. */
export interface DecodedFrame {
  img: Mat;
  reduce: number;
  width: number;
  height: number;
  kx: number;
  ky: number;
}

/** How many times smaller than the frame (`size`, from jpegSize) the full analysis decodes it: 1 or 2. */
export function analysisReduction(detector: FaceDetector, size: { width: number } | null): number {
  return !detector.fullResolution && size !== null && size.width >= REDUCE_FROM_WIDTH ? 2 : 1;
}

const REDUCED_GRAY = (cv: CV, reduce: number): number =>
  reduce >= 8 ? cv.IMREAD_REDUCED_GRAYSCALE_8 : reduce >= 4 ? cv.IMREAD_REDUCED_GRAYSCALE_4 : reduce >= 2 ? cv.IMREAD_REDUCED_GRAYSCALE_2 : cv.IMREAD_GRAYSCALE;

/**
 * The JPEG decoded `reduce` times smaller (1, 2, 4 or 8: libjpeg scales while decoding), in BGR for the detectors
 * or in gray, which only a thumbnail can use. Its Huffman decoding is paid in full at every scale, so a request
 * decodes its frame once and takes everything it needs from that image.
 */
export function decodeJpeg(cv: CV, jpeg: Buffer, reduce: number, size = jpegSize(jpeg), colour: 'bgr' | 'gray' = 'bgr'): DecodedFrame {
  let img: Mat;
  try {
    img = cv.imdecode(jpeg, colour === 'gray' ? REDUCED_GRAY(cv, reduce) : REDUCED_COLOR(cv, reduce));
  } catch (err) {
    throw new DetectError('VIGIL_ERR_IMAGE_DECODE', `cannot decode the JPEG: ${(err as Error).message}`);
  }
  if (img.empty) throw new DetectError('VIGIL_ERR_IMAGE_DECODE', 'cannot decode the JPEG');
  // A reduced decode rounds odd sizes up: scale by the real ratio, not by 2.
  const width = size?.width ?? img.cols * reduce;
  const height = size?.height ?? img.rows * reduce;
  return { img, reduce, width, height, kx: width / img.cols, ky: height / img.rows };
}

const toFrame = (f: FaceBox, kx: number, ky: number): FaceBox => ({
  ...f,
  x: Math.round(f.x * kx),
  y: Math.round(f.y * ky),
  w: Math.round(f.w * kx),
  h: Math.round(f.h * ky),
  score: Math.round(f.score * 1000) / 1000,
});

/**
 * One JPEG in, one verdict out: the whole per-frame path of `vigil detect` and of a detector process's `full`
 * request. Boxes are reported in the pixels of the frame as sent.
 */
export async function analyzeJpeg(cv: CV, detector: FaceDetector, jpeg: Buffer, thresholds: VerdictThresholds): Promise<FrameResult> {
  const size = jpegSize(jpeg);
  // Async, so that an undecodable JPEG rejects rather than throws into a detector process's message handler.
  const frame = decodeJpeg(cv, jpeg, analysisReduction(detector, size), size);
  // Freed now, not at the next major GC: OpenCV reports each Mat to V8 as external memory (see pixels.ts).
  return analyzeFrame(detector, frame, thresholds).finally(() => frame.img.release());
}

/**
 * The full analysis of a frame decoded at analysisReduction's scale (the detectors are tuned at that scale). The
 * frame stays the caller's to release.
 */
export async function analyzeFrame(detector: FaceDetector, frame: DecodedFrame, thresholds: VerdictThresholds): Promise<FrameResult> {
  const { img, width, height, kx, ky } = frame;
  const faces = (await detector.detect(img)).map((f) => toFrame(f, kx, ky));
  return { width, height, faces, ...judge(faces, width, height, thresholds, detector.bestRejected) };
}

/**
 * The quick check (README, "Motion gating"): the one face of the last full analysis, `last` (frame pixels), found
 * again by the detector's cheap look around it in `frame` (decoded at its trackReduction when it has one), judged
 * by the same rules. Null, for a full analysis, when the detector has no quick check, does not find that face
 * again as it was, or the verdict would no longer be ok.
 */
export async function quickCheck(detector: FaceDetector, frame: DecodedFrame, last: Rect, thresholds: VerdictThresholds): Promise<FrameResult | null> {
  if (!detector.track) return null;
  const { img, width, height, kx, ky } = frame;
  const found = await detector.track(img, { x: last.x / kx, y: last.y / ky, w: last.w / kx, h: last.h / ky });
  if (!found) return null;
  const faces = [toFrame(found, kx, ky)];
  const judgement = judge(faces, width, height, thresholds);
  return judgement.verdict === 'ok' ? { width, height, faces, ...judgement } : null;
}
