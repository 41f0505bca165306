/**
 * OpenCV and onnxruntime are optional dependencies: the server and `vigil detect` need them, a candidate's
 * client does not, and a candidate-only install (`npm install --omit=optional`) leaves them out so that it needs
 * no OpenCV build. Whoever needs one and finds it missing says so in words a user can act on.
 */
import { DetectError } from './types';

/** Resolves an optional package or throws VIGIL_ERR_DETECTOR_LOAD naming what is missing and how to get it. */
export function resolveOptional(name: string, purpose: string): string {
  try {
    return require.resolve(name);
  } catch {
    throw new DetectError(
      'VIGIL_ERR_DETECTOR_LOAD',
      `${purpose} needs the package ${name}, which this install left out (a candidate-only install). ` +
        'Install the full vigil: `make` in its source folder (Debian packages libopencv-dev and ffmpeg, then npm ci).',
    );
  }
}
