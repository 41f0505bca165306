/**
 * Ogg (RFC 3533) into Opus packets (RFC 7845): what ffmpeg's libopus writes to a pipe becomes the OpusHead
 * record and one packet per Opus frame group, each with its duration read from its TOC byte (RFC 6716 §3.1).
 * CRCs are not checked: the pipe comes from our own ffmpeg child, not from the network.
 */

export class OpusError extends Error {
  readonly code = 'VIGIL_ERR_OPUS';
}

export interface OpusHead {
  channels: number;
  /** Samples at 48 kHz the decoder discards at the start (the encoder's look-ahead). */
  preSkip: number;
  inputSampleRate: number;
}

export type OggOpusItem = { type: 'head'; head: OpusHead; bytes: Buffer } | { type: 'packet'; packet: Buffer; samples: number };

/** Duration of one Opus packet in 48 kHz samples, from its TOC byte (and frame count byte for code 3). */
export function opusPacketSamples(packet: Buffer): number {
  if (packet.length === 0) throw new OpusError('an empty Opus packet');
  const toc = packet[0]!;
  const config = toc >> 3;
  let frameSamples: number;
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config & 3]!; // SILK: 10, 20, 40, 60 ms
  else if (config < 16) frameSamples = [480, 960][config & 1]!; // hybrid: 10, 20 ms
  else frameSamples = [120, 240, 480, 960][config & 3]!; // CELT: 2.5, 5, 10, 20 ms
  const code = toc & 3;
  let frames = code === 0 ? 1 : code < 3 ? 2 : 0;
  if (code === 3) {
    if (packet.length < 2) throw new OpusError('an Opus code-3 packet without its frame count byte');
    frames = packet[1]! & 0x3f;
    if (frames === 0) throw new OpusError('an Opus code-3 packet with zero frames');
  }
  const samples = frames * frameSamples;
  if (samples > 5760) throw new OpusError(`an Opus packet of ${samples / 48} ms; at most 120 ms is valid`);
  return samples;
}

/** Reads and checks an OpusHead record (RFC 7845 §5.1). */
export function parseOpusHead(b: Buffer): OpusHead {
  if (b.length < 19 || b.toString('latin1', 0, 8) !== 'OpusHead') throw new OpusError('malformed OpusHead: missing magic or shorter than 19 bytes');
  if ((b[8]! & 0xf0) !== 0) throw new OpusError(`OpusHead version ${b[8]} is not 0.x`);
  const channels = b[9]!;
  if (channels < 1 || channels > 2) throw new OpusError(`OpusHead declares ${channels} channels; 1 or 2 are accepted`);
  if (b[18] !== 0) throw new OpusError(`OpusHead channel mapping family ${b[18]} is not 0 (mono/stereo)`);
  return { channels, preSkip: b.readUInt16LE(10), inputSampleRate: b.readUInt32LE(12) };
}

/** Incremental Ogg demuxer for one logical Opus stream. */
export class OggOpusReader {
  private buf: Buffer = Buffer.alloc(0);
  private partial: Buffer[] = [];
  private packetsSeen = 0;

  push(chunk: Buffer): OggOpusItem[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: OggOpusItem[] = [];
    for (;;) {
      if (this.buf.length < 27) break;
      if (this.buf.toString('latin1', 0, 4) !== 'OggS') throw new OpusError('the Opus stream lost Ogg page sync');
      const segments = this.buf[26]!;
      const headerLen = 27 + segments;
      if (this.buf.length < headerLen) break;
      let bodyLen = 0;
      for (let i = 0; i < segments; i++) bodyLen += this.buf[27 + i]!;
      if (this.buf.length < headerLen + bodyLen) break;
      let at = headerLen;
      for (let i = 0; i < segments; i++) {
        const lace = this.buf[27 + i]!;
        this.partial.push(this.buf.subarray(at, at + lace));
        at += lace;
        // A lacing value below 255 ends a packet; 255 continues it (possibly onto the next page).
        if (lace < 255) this.packet(Buffer.concat(this.partial), out);
        if (lace < 255) this.partial = [];
      }
      this.buf = this.buf.subarray(headerLen + bodyLen);
    }
    return out;
  }

  private packet(p: Buffer, out: OggOpusItem[]): void {
    const n = this.packetsSeen++;
    if (n === 0) out.push({ type: 'head', head: parseOpusHead(p), bytes: p });
    else if (n === 1) return; // OpusTags: the encoder's name, nothing the recording needs
    else if (p.length > 0) out.push({ type: 'packet', packet: p, samples: opusPacketSamples(p) });
  }
}

/** CRC-32 of Ogg pages: polynomial 0x04c11db7, not reflected, initial value 0 (RFC 3533 §6). */
const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

function oggCrc(page: Buffer): number {
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc;
}

/** Ogg pages for one Opus stream, one packet a page: lets ffmpeg decode packets that arrived on the wire. */
export class OggOpusWriter {
  private seqNo = 0;
  private granule = 0n;
  private readonly serial = 0x76676c31; // 'vgl1'

  /** The two header pages: OpusHead (beginning of stream) and an OpusTags with no comments. */
  header(opusHead: Buffer): Buffer {
    const tags = Buffer.concat([Buffer.from('OpusTags', 'latin1'), Buffer.from([5, 0, 0, 0]), Buffer.from('vigil', 'latin1'), Buffer.alloc(4)]);
    return Buffer.concat([this.page(opusHead, 0x02), this.page(tags, 0)]);
  }

  packet(packet: Buffer, samples: number): Buffer {
    this.granule += BigInt(samples);
    return this.page(packet, 0);
  }

  private page(packet: Buffer, flags: number): Buffer {
    const lacing: number[] = [];
    for (let left = packet.length; ; left -= 255) {
      lacing.push(Math.min(left, 255));
      if (left < 255) break;
    }
    const h = Buffer.alloc(27 + lacing.length);
    h.write('OggS', 0, 'latin1');
    h[5] = flags;
    h.writeBigInt64LE(flags & 0x02 || this.seqNo === 1 ? 0n : this.granule, 6);
    h.writeUInt32LE(this.serial, 14);
    h.writeUInt32LE(this.seqNo++, 18);
    h[26] = lacing.length;
    Buffer.from(lacing).copy(h, 27);
    const page = Buffer.concat([h, packet]);
    page.writeUInt32LE(oggCrc(page), 22);
    return page;
  }
}
