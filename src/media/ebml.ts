/**
 * The handful of EBML encoders a Matroska writer needs (RFC 8794). Element IDs are written with their
 * length-marker bits included, exactly as the Matroska spec lists them (e.g. Segment = 0x18538067).
 */

/** Size field meaning "unknown": lets a live file be read before it is finished (RFC 8794 §6.2). */
export const UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function idBytes(id: number): Buffer {
  if (id >= 0x1000000) return Buffer.from([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
  if (id >= 0x10000) return Buffer.from([id >>> 16, (id >>> 8) & 0xff, id & 0xff]);
  if (id >= 0x100) return Buffer.from([id >>> 8, id & 0xff]);
  return Buffer.from([id]);
}

/** A data size as the shortest variable-length integer. */
export function vintSize(n: number): Buffer {
  return fixedSize(n, vintLength(n));
}

/** How many bytes the shortest variable-length integer for `n` takes. */
export function vintLength(n: number): number {
  for (let len = 1; len <= 8; len++) {
    // All-ones is reserved for "unknown", so the largest value of a width is 2^(7*len) - 2.
    if (n <= 2 ** (7 * len) - 2) return len;
  }
  throw new RangeError(`EBML size ${n} too large`);
}

/** A data size written in exactly `len` bytes, so it can be patched in place later. */
export function fixedSize(n: number, len: number): Buffer {
  const out = Buffer.alloc(len);
  writeSize(out, 0, n, len);
  return out;
}

/** Writes a data size of exactly `len` bytes into `out` at `at` (for headers built in one buffer). */
export function writeSize(out: Buffer, at: number, n: number, len: number): void {
  let v = n;
  for (let i = len - 1; i >= 0; i--) {
    out[at + i] = v % 256;
    v = Math.floor(v / 256);
  }
  out[at] = out[at]! | (0x80 >> (len - 1));
}

export function element(id: number, data: Buffer): Buffer {
  return Buffer.concat([idBytes(id), vintSize(data.length), data]);
}

export function master(id: number, children: Buffer[]): Buffer {
  return element(id, Buffer.concat(children));
}

export function uint(id: number, v: number): Buffer {
  let hex = Math.trunc(v).toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return element(id, Buffer.from(hex, 'hex'));
}

/** A uint in a fixed 8 bytes, for values patched after the fact (SeekPosition). */
export function uint64(id: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(Math.trunc(v)));
  return element(id, b);
}

export function int64(id: number, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return element(id, b);
}

export function float64(id: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return element(id, b);
}

export function string(id: number, v: string): Buffer {
  return element(id, Buffer.from(v, 'utf8'));
}

export function binary(id: number, v: Buffer): Buffer {
  return element(id, v);
}

/** A Void element occupying exactly `total` bytes (at least 2), used to reserve space. */
export function voidElement(total: number): Buffer {
  if (total < 2) throw new RangeError('a Void element needs at least 2 bytes');
  // 1 byte of ID; the size field takes 1 byte for payloads up to 126, else 8 bytes.
  const sizeLen = total - 2 <= 126 ? 1 : 8;
  const payload = total - 1 - sizeLen;
  return Buffer.concat([Buffer.from([0xec]), fixedSize(payload, sizeLen), Buffer.alloc(payload)]);
}
