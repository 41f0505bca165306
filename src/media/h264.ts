/**
 * H.264 bitstream plumbing: Annex B byte streams (what ffmpeg's `-f h264` writes) into access units, the
 * parameter sets into an avcC record (ISO/IEC 14496-15 §5.3.3.1), and access units into the length-prefixed
 * form Matroska's V_MPEG4/ISO/AVC stores. Only NAL headers and the first bit of a slice header are read; the
 * pictures themselves are never decoded.
 */

export const NAL = { slice: 1, idr: 5, sei: 6, sps: 7, pps: 8, aud: 9 } as const;

export class H264Error extends Error {
  readonly code = 'VIGIL_ERR_H264';
}

export function nalType(nal: Buffer): number {
  return nal[0]! & 0x1f;
}

function isVcl(type: number): boolean {
  return type >= 1 && type <= 5;
}

/** A slice whose first_mb_in_slice is 0 starts a new picture: ue(v) 0 is the single bit 1. */
function firstSliceOfPicture(nal: Buffer): boolean {
  return nal.length > 1 && (nal[1]! & 0x80) !== 0;
}

export interface AccessUnit {
  /** NAL units without start codes, in stream order. */
  nals: Buffer[];
  /** True when the unit holds an IDR slice: decoding can start here. */
  keyframe: boolean;
}

/**
 * Incremental Annex B splitter. A NAL ends only where the next start code begins, so an access unit is
 * complete when the first NAL of the next one arrives (one frame of latency) or at `end()`.
 */
export class AnnexBSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private current: Buffer[] = [];
  private currentHasVcl = false;

  push(chunk: Buffer): AccessUnit[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: AccessUnit[] = [];
    const starts = startCodes(this.buf);
    // The bytes after the last start code may be an unfinished NAL: keep them.
    for (let i = 0; i + 1 < starts.length; i++) this.addNal(trimZeros(this.buf.subarray(starts[i]!.data, starts[i + 1]!.at)), out);
    if (starts.length > 0) this.buf = this.buf.subarray(starts[starts.length - 1]!.at);
    return out;
  }

  /** The stream ended: the bytes held are the last NAL. */
  end(): AccessUnit[] {
    const out: AccessUnit[] = [];
    const starts = startCodes(this.buf);
    if (starts.length > 0) this.addNal(trimZeros(this.buf.subarray(starts[starts.length - 1]!.data)), out);
    this.buf = Buffer.alloc(0);
    this.flushUnit(out);
    return out;
  }

  private addNal(nal: Buffer, out: AccessUnit[]): void {
    if (nal.length === 0) return;
    const type = nalType(nal);
    const startsUnit = type === NAL.aud || ((type === NAL.sps || type === NAL.pps || type === NAL.sei) && this.currentHasVcl) || (isVcl(type) && this.currentHasVcl && firstSliceOfPicture(nal));
    if (startsUnit) this.flushUnit(out);
    // Copied: the caller keeps units for seconds (resend buffer), and the stream buffer must not be pinned.
    this.current.push(Buffer.from(nal));
    if (isVcl(type)) this.currentHasVcl = true;
  }

  private flushUnit(out: AccessUnit[]): void {
    if (this.current.length > 0 && this.currentHasVcl) out.push({ nals: this.current, keyframe: this.current.some((n) => nalType(n) === NAL.idr) });
    this.current = [];
    this.currentHasVcl = false;
  }
}

/** Positions of start codes: `at` where the 00 00 01 (or 00 00 00 01) begins, `data` where the NAL begins. */
function startCodes(b: Buffer): Array<{ at: number; data: number }> {
  const out: Array<{ at: number; data: number }> = [];
  for (let i = 0; i + 2 < b.length; i++) {
    if (b[i + 2]! > 1) {
      i += 2;
      continue;
    }
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) {
      out.push({ at: i > 0 && b[i - 1] === 0 ? i - 1 : i, data: i + 3 });
      i += 2;
    }
  }
  return out;
}

/** trailing_zero_8bits between NALs belong to no NAL. */
function trimZeros(nal: Buffer): Buffer {
  let end = nal.length;
  while (end > 0 && nal[end - 1] === 0) end--;
  return nal.subarray(0, end);
}

/** NAL units as Matroska/MP4 store them: each prefixed by its length in 4 bytes. */
export function toLengthPrefixed(nals: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of nals) {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(n.length);
    parts.push(len, n);
  }
  return Buffer.concat(parts);
}

/** Splits length-prefixed (4-byte) NAL units; throws H264Error when the lengths do not tile the buffer. */
export function splitLengthPrefixed(au: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < au.length) {
    if (at + 4 > au.length) throw new H264Error(`a NAL length field is cut off at byte ${at} of ${au.length}`);
    const len = au.readUInt32BE(at);
    if (len === 0 || at + 4 + len > au.length) throw new H264Error(`a NAL of ${len} bytes at byte ${at} runs past the end (${au.length} bytes)`);
    out.push(au.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (out.length === 0) throw new H264Error('an access unit with no NAL units');
  return out;
}

export interface AvcConfig {
  profile: number;
  level: number;
  sps: Buffer[];
  pps: Buffer[];
}

/** An avcC record with 4-byte NAL lengths from the stream's parameter sets. */
export function avcDecoderConfig(sps: Buffer[], pps: Buffer[]): Buffer {
  const first = sps[0];
  if (!first || first.length < 4 || pps.length === 0) throw new H264Error('an avcC record needs an SPS of at least 4 bytes and a PPS');
  const parts: Buffer[] = [Buffer.from([1, first[1]!, first[2]!, first[3]!, 0xfc | 3, 0xe0 | sps.length])];
  for (const s of sps) parts.push(u16(s.length), s);
  parts.push(Buffer.from([pps.length]));
  for (const p of pps) parts.push(u16(p.length), p);
  return Buffer.concat(parts);
}

function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
}

/** Reads and checks an avcC record (4-byte NAL lengths only: that is what the recorder stores). */
export function parseAvcConfig(b: Buffer): AvcConfig {
  const fail = (why: string): never => {
    throw new H264Error(`malformed avcC record: ${why}`);
  };
  if (b.length < 7) fail(`${b.length} bytes is too short`);
  if (b[0] !== 1) fail(`configurationVersion is ${b[0]}, not 1`);
  if ((b[4]! & 3) !== 3) fail(`NAL length size is ${(b[4]! & 3) + 1} bytes; 4 are required`);
  let at = 6;
  const sets = (count: number, type: number, what: string): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (at + 2 > b.length) fail(`${what} ${i} length is cut off`);
      const len = b.readUInt16BE(at);
      if (len === 0 || at + 2 + len > b.length) fail(`${what} ${i} of ${len} bytes runs past the end`);
      const nal = b.subarray(at + 2, at + 2 + len);
      if (nalType(nal) !== type) fail(`${what} ${i} is NAL type ${nalType(nal)}, not ${type}`);
      out.push(nal);
      at += 2 + len;
    }
    return out;
  };
  const sps = sets(b[5]! & 0x1f, NAL.sps, 'SPS');
  if (at >= b.length) fail('the PPS count is missing');
  const pps = sets(b[at++]!, NAL.pps, 'PPS');
  if (sps.length === 0 || pps.length === 0) fail(`it holds ${sps.length} SPS and ${pps.length} PPS; at least one of each is needed`);
  // High profiles append chroma/bit-depth fields after the PPS; anything there is kept as sent.
  return { profile: b[1]!, level: b[3]!, sps, pps };
}
