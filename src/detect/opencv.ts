/**
 * The one place OpenCV is loaded. It must build and run against Debian's system OpenCV, so the autobuild switch is
 * set before the first require (opencv4nodejs reads it at load time). Its build helper logs "Info" lines to
 * stdout on every load, which would corrupt `vigil detect --json`: it is silenced first.
 *
 * Only detector processes load this; the server process never does, so an OpenCV crash cannot take it down.
 */
import path from 'node:path';
import type * as OpenCV from '@u4/opencv4nodejs';
import { resolveOptional } from './optional-package';

export type CV = typeof OpenCV;
export type Mat = OpenCV.Mat;

let loaded: CV | null = null;

export function loadOpenCV(): CV {
  if (loaded) return loaded;
  process.env['OPENCV4NODEJS_DISABLE_AUTOBUILD'] ??= '1';
  const cvDir = path.dirname(resolveOptional('@u4/opencv4nodejs', 'face detection (and the console\'s preview window)'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const build = require(require.resolve('@u4/opencv-build', { paths: [cvDir] })) as { Log: { silence: boolean } };
  build.Log.silence = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded = require('@u4/opencv4nodejs') as CV;
  return loaded;
}
