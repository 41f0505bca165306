import { insideFraction } from './geometry';
import type { FaceBox, FaceVerdict } from './types';

/**
 * The verdict rules (README, "Verdict rules"): fractions are of the frame's width, except `minInside`.
 * - ok: exactly one face, at least `minInside` of its box inside the frame, width from `minFaceWidth` to
 *   `maxFaceWidth`.
 * - misaligned: one face with more than 1 - `minInside` of its box outside the frame, or narrower than
 *   `minFaceWidth`, or wider than `maxFaceWidth`. Where the face sits inside the frame never matters.
 * - multiple_faces: two or more faces, each at least `minOtherFace` wide.
 * - no_face: otherwise.
 */
export interface VerdictThresholds {
  /** Share of the face box that must be inside the frame. Default 0.8. */
  minInside: number;
  /** Narrowest face: farther from the camera cannot be proctored. Default 0.08. */
  minFaceWidth: number;
  /** Widest face: closer than this hides the surroundings. Default 0.75. */
  maxFaceWidth: number;
  /** Narrowest face that counts as a person in the room for multiple_faces. Default 0.05. */
  minOtherFace: number;
}

export const DEFAULT_THRESHOLDS: Readonly<VerdictThresholds> = Object.freeze({
  minInside: 0.8,
  minFaceWidth: 0.08,
  maxFaceWidth: 0.75,
  minOtherFace: 0.05,
});

export interface Judgement {
  verdict: FaceVerdict;
  confidence: number;
  why: string;
}

/** Why one face is not well placed, or null when it is. */
export function misalignment(f: FaceBox, width: number, height: number, t: VerdictThresholds): string | null {
  const inside = insideFraction(f, width, height);
  if (inside < t.minInside) {
    const out = { left: -f.x, right: f.x + f.w - width, top: -f.y, bottom: f.y + f.h - height };
    const edge = (Object.keys(out) as Array<keyof typeof out>).reduce((a, b) => (out[b] > out[a] ? b : a));
    return `face cut by the ${edge} edge (${Math.round((1 - inside) * 100)} % outside the picture)`;
  }
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
  const people = faces.filter((f) => f.w / width >= t.minOtherFace);
  if (people.length > 1) {
    const scores = people.map((f) => f.score).sort((a, b) => b - a);
    return { verdict: 'multiple_faces', confidence: round(scores[1]!), why: `${people.length} faces` };
  }
  // One person; a face too small to count as another person beside them does not change the verdict.
  const face = faces.reduce((a, b) => (b.w > a.w ? b : a));
  const why = misalignment(face, width, height, t);
  return why ? { verdict: 'misaligned', confidence: round(face.score), why } : { verdict: 'ok', confidence: round(face.score), why: '' };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
