/** A face box in pixels of the analysed frame, with the detector's confidence (0-1). */
export interface FaceBox {
  x: number;
  y: number;
  w: number;
  h: number;
  score: number;
  /** Eyes found inside the box (Haar only; undefined when the detector does not look for eyes). */
  eyes?: number;
}

export type DetectorName = 'haar' | 'dnn';
export const DETECTOR_NAMES: readonly DetectorName[] = ['haar', 'dnn'];

export type FaceVerdict = 'ok' | 'no_face' | 'misaligned' | 'multiple_faces';

/** Everything one analysed frame yields: the boxes, the frame size, and the verdict on them. */
export interface FrameResult {
  width: number;
  height: number;
  faces: FaceBox[];
  verdict: FaceVerdict;
  /** How sure the verdict is, 0-1 (see verdict.ts). */
  confidence: number;
  /** Why a frame is misaligned, for logs and `vigil detect`; empty otherwise. */
  why: string;
}

export class DetectError extends Error {
  constructor(
    readonly code: 'VIGIL_ERR_DETECTOR_LOAD' | 'VIGIL_ERR_IMAGE_DECODE' | 'VIGIL_ERR_DETECTOR_CRASH' | 'VIGIL_ERR_DETECTOR_TIMEOUT' | 'VIGIL_ERR_DETECTOR_CLOSED' | 'VIGIL_ERR_DETECTOR_DOWN',
    message: string,
  ) {
    super(message);
    this.name = 'DetectError';
  }
}
