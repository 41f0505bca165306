import type { FaceBox, FaceVerdict } from './types';

/** When one face is "misaligned" rather than fine. Fractions are of the frame's width (x) or height (y). */
export interface VerdictThresholds {
  /** A box within this fraction of an edge is cut off, or about to be. Default 0.02. */
  edgeMargin: number;
  /** Largest horizontal distance of the face centre from the frame centre. Default 0.25. */
  maxOffsetX: number;
  /** Largest vertical distance of the face centre from the frame centre. Default 0.3. */
  maxOffsetY: number;
  /** Narrowest face, as a fraction of the frame width: farther away cannot be proctored. Default 0.08. */
  minFaceWidth: number;
  /** Widest face: closer than this hides the surroundings. Default 0.75. */
  maxFaceWidth: number;
}

/*
 * Defaults measured on ../shared/media/video: centred faces have their centre at x 0.39-0.72 of the width
 * (megamind-clip reaches 0.72), the labelled misaligned faces at 0.10-0.20, so 0.25 from the centre separates them
 * with room on both sides.
 */
export const DEFAULT_THRESHOLDS: Readonly<VerdictThresholds> = Object.freeze({
  edgeMargin: 0.02,
  maxOffsetX: 0.25,
  maxOffsetY: 0.3,
  minFaceWidth: 0.08,
  maxFaceWidth: 0.75,
});

export interface Judgement {
  verdict: FaceVerdict;
  confidence: number;
  why: string;
}

/** Why one face is not well placed, or null when it is. */
export function misalignment(f: FaceBox, width: number, height: number, t: VerdictThresholds): string | null {
  const mx = t.edgeMargin * width;
  const my = t.edgeMargin * height;
  if (f.x < mx || f.y < my || f.x + f.w > width - mx || f.y + f.h > height - my) return 'face at the edge of the picture';
  const cx = (f.x + f.w / 2) / width - 0.5;
  const cy = (f.y + f.h / 2) / height - 0.5;
  if (Math.abs(cx) > t.maxOffsetX) return cx < 0 ? 'face too far left' : 'face too far right';
  if (Math.abs(cy) > t.maxOffsetY) return cy < 0 ? 'face too high' : 'face too low';
  if (f.w / width < t.minFaceWidth) return 'face too small (too far from the camera)';
  if (f.w / width > t.maxFaceWidth) return 'face too large (too close to the camera)';
  if (f.eyes === 0) return 'no eyes visible in the face';
  return null;
}

/**
 * The verdict on one frame. Confidence is the detector's score for the evidence: the face for ok/misaligned,
 * the second face for multiple_faces, and 1 minus the best rejected score for no_face.
 */
export function judge(faces: FaceBox[], width: number, height: number, t: VerdictThresholds, bestRejected = 0): Judgement {
  if (faces.length === 0) return { verdict: 'no_face', confidence: round(1 - bestRejected), why: '' };
  if (faces.length > 1) {
    const scores = faces.map((f) => f.score).sort((a, b) => b - a);
    return { verdict: 'multiple_faces', confidence: round(scores[1]!), why: `${faces.length} faces` };
  }
  const face = faces[0]!;
  const why = misalignment(face, width, height, t);
  return why ? { verdict: 'misaligned', confidence: round(face.score), why } : { verdict: 'ok', confidence: round(face.score), why: '' };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
