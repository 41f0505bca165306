import { ProtocolError } from './errors';

/**
 * Bounds-checked readers and writers for payload fields. Written by hand because the layouts are a few fixed
 * integers and short strings: a schema library would cost more per frame than the fields themselves.
 */
export class FieldWriter {
  private buf: Buffer;
  private pos = 0;

  /** `reserve` bytes are left at the start for a header the caller writes with `finishWith`. */
  constructor(initial = 64, private readonly reserve = 0) {
    this.buf = Buffer.allocUnsafe(Math.max(initial, reserve));
    this.pos = reserve;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  f32(v: number): this {
    this.ensure(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  /** UTF-8 with a u16 byte length. Longer strings are a caller bug, not a wire condition. */
  str(v: string): this {
    const bytes = Buffer.from(v, 'utf8');
    if (bytes.length > 0xffff) throw new RangeError(`string field of ${bytes.length} bytes exceeds 65535`);
    this.u16(bytes.length);
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(this.reserve, this.pos);
  }

  /** Bytes written after the reserved header space. */
  get length(): number {
    return this.pos - this.reserve;
  }

  /** The reserved header (written by `header` into its space) followed by the fields, in one buffer. */
  finishWith(header: (buf: Buffer) => void): Buffer {
    header(this.buf);
    return this.buf.subarray(0, this.pos);
  }
}

export class FieldReader {
  private pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number, field: string): void {
    if (this.pos + n > this.buf.length) {
      throw new ProtocolError(
        'VIGIL_ERR_MALFORMED',
        `${this.what} payload ends inside field "${field}" (${this.buf.length} bytes)`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    const v = this.buf.readUInt8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  f32(field: string): number {
    this.need(4, field);
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(field: string): number {
    this.need(8, field);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  str(field: string, maxBytes: number): string {
    const len = this.u16(field);
    if (len > maxBytes) {
      throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `${this.what} field "${field}" is ${len} bytes; the limit is ${maxBytes}`);
    }
    this.need(len, field);
    const v = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  /** Bytes not yet read (a field a later version appended). */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The rest of the payload, without copying. */
  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }

  end(): void {
    if (this.pos !== this.buf.length) {
      throw new ProtocolError(
        'VIGIL_ERR_MALFORMED',
        `${this.what} payload has ${this.buf.length - this.pos} unexpected trailing bytes`,
      );
    }
  }
}
