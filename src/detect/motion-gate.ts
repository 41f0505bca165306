/**
 * Motion gating: a frame that barely differs from the last fully analysed one keeps that frame's verdict
 * instead of running the models again. Detector processes are shared by all candidates, so they hold no
 * per-candidate state: the caller sends the reference thumbnail with the frame and keeps the one that comes back.
 */
import { analysisReduction, analyzeFrame, decodeJpeg, jpegSize, quickCheck, type DecodedFrame, type FaceDetector } from './analyze';
import type { Rect } from './geometry';
import type { CV, Mat } from './opencv';
import type { FrameResult } from './types';
import type { VerdictThresholds } from './verdict';

/** Thumbnail size: 32x24 gray values, whatever the frame's size (its aspect is kept in `width`/`height`). */
export const THUMB_W = 32;
export const THUMB_H = 24;

/**
 * How far a frame may be from its reference and still count as unchanged, in gray levels (0-255) of 32x24
 * thumbnails after removing the difference in mean brightness. Both must hold: the mean catches a change spread
 * over the picture, the peak (largest single thumbnail pixel) a small one, such as a second face at the door,
 * which hardly moves the mean. Measured with bench/gate.ts (640x480, consecutive analysed frames at 5/s):
 * - the sample videos' slow pan/zoom: mean median 2.9-4.2, p95 5.0 (candidate-ok); peak p10 7-14, median 27-29
 *   (93 for megamind-clip), p95 48 (candidate-ok): a limit of 16 gates the stillest 10-25 % of their frames;
 * - the hard cuts of candidate-incidents.mp4 at 6/12/18/24 s, against any frame of the second before: mean 62-79;
 * - a face frame against the same frame with the face moved 5 % of the width: mean 2.6-7.2, peak 109-124;
 * - with a second face 5 % wide pasted in: mean 0.2-0.7, peak 21-79 (8 % wide: mean 0.4-1.4, peak 28-105).
 * So the mean alone cannot tell a moved face from the videos' drift (2.6 against a median of 3.5), and cannot see
 * a small second face at all; the peak tells both, with its limit below the smallest pasted face (21).
 */
export const GATE_LIMITS: GateLimits = { mean: 3, peak: 16 };

export interface GateLimits {
  mean: number;
  peak: number;
}

/** The tiny picture a frame is compared by, with the size of the frame it was made from. */
export interface Thumbnail {
  width: number;
  height: number;
  gray: Uint8Array;
}

/**
 * What a detector process answers to a gated request: `gated`, unchanged; `quick`, changed, but the quick check
 * found the last analysis's one face again (analyze.ts, quickCheckJpeg); `analysed`, the full cascade ran.
 */
export type GatedAnalysis =
  | { kind: 'analysed'; result: FrameResult; thumbnail: Thumbnail; difference: GateLimits | null }
  | { kind: 'quick'; result: FrameResult; thumbnail: Thumbnail; difference: GateLimits }
  | { kind: 'gated'; thumbnail: Thumbnail; difference: GateLimits };

/**
 * The frame's thumbnail, from its picture decoded at any of libjpeg's scales: first the means of its 8x8 pixel
 * blocks in gray (what a 1/8 gray decode gives, to 1 gray level), then an area average of those to 32x24. Going
 * through the 1/8 image keeps the thumbnail the same whichever scale the frame was decoded at, and the same as
 * when the gate's limits were measured on 1/8 decodes: a direct area average of a finer image differs from it by
 * up to 29 gray levels at sharp edges (a thumbnail pixel covers 2.5 of the 1/8 image's pixels, weighted as if
 * each were flat). Measured on every frame of the sample videos at 640x480: at most 2 levels from the 1/8 decode's.
 */
export function makeThumbnail(cv: CV, frame: Pick<DecodedFrame, 'img' | 'width' | 'height'>): Thumbnail {
  const { img, width, height } = frame;
  // The intermediate Mats are released here, not left to the GC (see pixels.ts); `img` stays the caller's.
  const gray = img.channels === 1 ? img : img.cvtColor(cv.COLOR_BGR2GRAY);
  // libjpeg rounds a scaled size up.
  const cols = Math.ceil(width / 8);
  const rows = Math.ceil(height / 8);
  const eighth = gray.cols === cols && gray.rows === rows ? gray : gray.resize(rows, cols, 0, 0, cv.INTER_AREA);
  const thumb = eighth.resize(THUMB_H, THUMB_W, 0, 0, cv.INTER_AREA);
  const out = { width, height, gray: new Uint8Array(thumb.getData()) };
  for (const m of new Set([gray, eighth, thumb])) if (m !== img) m.release();
  return out;
}

function mean(a: Uint8Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}

/**
 * Mean and largest absolute difference of two thumbnails in gray levels, after shifting one to the other's mean
 * brightness (a camera's auto exposure moves the whole picture and is no change of scene). Infinity when the frames
 * differ in size: nothing learnt from one applies to the other.
 */
export function thumbnailDifference(a: Thumbnail, b: Thumbnail): GateLimits {
  if (a.width !== b.width || a.height !== b.height || a.gray.length !== b.gray.length || a.gray.length === 0) return { mean: Infinity, peak: Infinity };
  const shift = mean(a.gray) - mean(b.gray);
  let sum = 0;
  let peak = 0;
  for (let i = 0; i < a.gray.length; i++) {
    const d = Math.abs(a.gray[i]! - b.gray[i]! - shift);
    sum += d;
    if (d > peak) peak = d;
  }
  return { mean: sum / a.gray.length, peak };
}

export function isStill(d: GateLimits, limits: GateLimits): boolean {
  return d.mean <= limits.mean && d.peak <= limits.peak;
}

/**
 * One gated request: the thumbnail first; then, when the frame changed from a reference and `lastFace` is given
 * (the caller has a face to look for), the quick check; the full analysis only when neither answers.
 * The JPEG is decoded once, at the scale the request most likely needs, and the thumbnail is made from that
 * image: at the quick check's scale when there is a face to look for (most changed frames pass it), otherwise at
 * the full analysis's. Only a quick check that fails at another scale than the full analysis's decodes again.
 * `likelyStill` (the caller's last frame was gated) turns the odds: a still picture gates 4 frames in 5, so the
 * thumbnail comes first from a 1/8 gray decode, about a third of a half-size one, and a changed frame is decoded
 * again for the models.
 */
export async function analyzeUnlessStill(
  cv: CV,
  detector: FaceDetector,
  jpeg: Buffer,
  reference: Thumbnail | null,
  limits: GateLimits,
  thresholds: VerdictThresholds,
  lastFace: Rect | null = null,
  likelyStill = false,
): Promise<GatedAnalysis> {
  const size = jpegSize(jpeg);
  const full = analysisReduction(detector, size);
  const last = reference && detector.track ? lastFace : null;
  const scale = last ? (detector.trackReduction?.(last) ?? full) : full;
  // Every Mat decoded here is released before answering (see pixels.ts).
  const decoded: Mat[] = [];
  const decode = (reduce: number, colour: 'bgr' | 'gray' = 'bgr'): DecodedFrame => {
    const f = decodeJpeg(cv, jpeg, reduce, size, colour);
    decoded.push(f.img);
    return f;
  };
  try {
    let frame = reference && likelyStill ? null : decode(scale);
    const thumbnail = makeThumbnail(cv, frame ?? decode(8, 'gray'));
    const difference = reference ? thumbnailDifference(thumbnail, reference) : null;
    if (difference && isStill(difference, limits)) return { kind: 'gated', thumbnail, difference };
    frame ??= decode(scale);
    const found = last ? await quickCheck(detector, frame, last, thresholds) : null;
    if (found && difference) return { kind: 'quick', result: found, thumbnail, difference };
    const analysed = await analyzeFrame(detector, frame.reduce === full ? frame : decode(full), thresholds);
    return { kind: 'analysed', result: analysed, thumbnail, difference };
  } finally {
    for (const m of decoded) m.release();
  }
}
