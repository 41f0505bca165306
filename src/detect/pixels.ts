import { loadOpenCV, type Mat } from './opencv';
import { DetectError } from './types';

/**
 * A fixed-size 8-bit BGR image over a Buffer of our own, reused for every frame. Mat.getData() would return each
 * image's pixels in a fresh Buffer (after two copies), external memory that stays counted until a GC frees it, and
 * external memory piling up between GCs is what started most of the detector's major GCs. Copying into this one
 * costs a single memcpy and allocates nothing.
 */
export class PixelBuffer {
  readonly bytes: Buffer;
  private readonly mat: Mat;

  constructor(
    readonly rows: number,
    readonly cols: number,
  ) {
    const cv = loadOpenCV();
    this.bytes = Buffer.alloc(rows * cols * 3);
    // This constructor wraps the Buffer's memory rather than copying it: the Mat writes straight into `bytes`.
    this.mat = new cv.Mat(rows, cols, cv.CV_8UC3, this.bytes);
  }

  /** `img`'s pixels (it must have this size and be 8-bit BGR; a region of a larger image is fine), HWC BGR. */
  read(img: Mat): Buffer {
    // copyTo reallocates a destination of another size or type, which would leave `bytes` silently stale.
    if (img.rows !== this.rows || img.cols !== this.cols || img.type !== this.mat.type) {
      throw new DetectError('VIGIL_ERR_DETECTOR_CRASH', `a ${img.cols}x${img.rows} image of type ${img.type} cannot be read into a ${this.cols}x${this.rows} buffer of type ${this.mat.type}`);
    }
    img.copyTo(this.mat).release();
    return this.bytes;
  }
}
