import { Transform, type TransformCallback } from 'node:stream';

/*
 * Splits a concatenated Motion-JPEG byte stream (ffmpeg's image2pipe output) into one Buffer per image.
 * Written by hand because no maintained package does this with marker parsing: searching for FFD9 alone breaks on
 * JPEGs that embed a thumbnail. This walks the marker segments (ITU T.81 B.1) and, inside entropy-coded data,
 * skips stuffed 0xFF00 bytes and restart markers, so only the real EOI ends an image.
 */

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;

export class JpegSplitError extends Error {
  readonly code = 'VIGIL_ERR_JPEG_STREAM';
}

const S_SOI = 0; // expecting FF D8
const S_MARKER = 1; // expecting a marker between segments
const S_ENTROPY = 2; // inside scan data

export class JpegSplitter extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private state = S_SOI;

  constructor(private readonly maxImageBytes = 16 * 1024 * 1024) {
    super({ readableObjectMode: true, readableHighWaterMark: 8 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    try {
      this.scan();
    } catch (err) {
      done(err as Error);
      return;
    }
    if (this.buf.length > this.maxImageBytes) {
      done(new JpegSplitError(`a JPEG image exceeds ${this.maxImageBytes} bytes; the stream is not Motion-JPEG`));
      return;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.buf.length > 0) done(new JpegSplitError(`stream ended inside a JPEG image (${this.buf.length} bytes left)`));
    else done();
  }

  private scan(): void {
    let b = this.buf;
    for (;;) {
      if (this.state === S_SOI) {
        if (b.length - this.pos < 2) return;
        if (b[this.pos] !== 0xff || b[this.pos + 1] !== SOI) throw new JpegSplitError('expected a JPEG start-of-image marker');
        this.pos += 2;
        this.state = S_MARKER;
      } else if (this.state === S_MARKER) {
        // Fill bytes (0xFF) may precede a marker.
        while (this.pos + 1 < b.length && b[this.pos] === 0xff && b[this.pos + 1] === 0xff) this.pos++;
        if (b.length - this.pos < 2) return;
        if (b[this.pos] !== 0xff) throw new JpegSplitError(`expected a JPEG marker at byte ${this.pos}`);
        const marker = b[this.pos + 1]!;
        if (marker === EOI) {
          this.emit_(this.pos + 2);
          b = this.buf;
          continue;
        }
        if (b.length - this.pos < 4) return;
        const len = b.readUInt16BE(this.pos + 2);
        if (len < 2) throw new JpegSplitError('JPEG segment length below 2');
        if (b.length - this.pos < 2 + len) return;
        this.pos += 2 + len;
        if (marker === SOS) this.state = S_ENTROPY;
      } else {
        let i = this.pos;
        for (;;) {
          i = b.indexOf(0xff, i);
          if (i < 0 || i + 1 >= b.length) {
            this.pos = i < 0 ? b.length : i;
            return;
          }
          const next = b[i + 1]!;
          if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
            i += next === 0xff ? 1 : 2;
            continue;
          }
          break;
        }
        this.pos = i;
        this.state = S_MARKER; // EOI, or another table/scan in a progressive image
      }
    }
  }

  private emit_(end: number): void {
    this.push(Buffer.from(this.buf.subarray(0, end)));
    this.buf = this.buf.subarray(end);
    this.pos = 0;
    this.state = S_SOI;
  }
}
