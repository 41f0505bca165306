import {
  ABSOLUTE_MAX_PAYLOAD,
  DEFAULT_LIMITS,
  HEADER_SIZE,
  Kind,
  MAGIC,
  MAX_OPUS_PACKET,
  OPUS_PACKET_FIELDS,
  kindName,
  type KindCode,
  type PayloadLimits,
} from './constants';
import { decodePayload } from './codec';
import { ProtocolError } from './errors';
import type { Message } from './messages';

export interface DecodeResult {
  /** Every message completed by this push, in order, including those before an error. */
  messages: Message[];
  /** Set once the stream broke the protocol; the decoder then stays failed. */
  error: ProtocolError | null;
}

const STATE_HEADER = 0;
const STATE_PAYLOAD = 1;

/**
 * Incremental frame decoder: bytes in, typed messages or one typed error out. Knows no sockets.
 *
 * The declared length is checked against the per-kind limit the moment the 6-byte header is complete, so a
 * peer that announces a 4 GB frame costs 6 bytes of memory, not 4 GB (the mqtt-packet mistake ws avoids).
 * Memory held is therefore at most one header plus one maximal payload.
 */
export class Decoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private state = STATE_HEADER;
  private kind: KindCode = Kind.HELLO;
  private length = 0;
  private failed: ProtocolError | null = null;
  private readonly limits: PayloadLimits;

  constructor(limits: Partial<PayloadLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): DecodeResult {
    const messages: Message[] = [];
    if (this.failed) return { messages, error: this.failed };
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    try {
      for (;;) {
        if (this.state === STATE_HEADER) {
          if (this.buffered < HEADER_SIZE) break;
          this.readHeader(this.consume(HEADER_SIZE));
        } else {
          if (this.buffered < this.length) break;
          const payload = this.consume(this.length);
          this.state = STATE_HEADER;
          messages.push(decodePayload(this.kind, payload));
        }
      }
    } catch (err) {
      // decodePayload and readHeader throw only ProtocolError; anything else is a bug worth surfacing as one.
      this.failed =
        err instanceof ProtocolError
          ? err
          : new ProtocolError('VIGIL_ERR_MALFORMED', `decoder fault: ${(err as Error).message}`);
      this.chunks = [];
      this.buffered = 0;
    }
    return { messages, error: this.failed };
  }

  private limitFor(kind: KindCode): number {
    const limit =
      kind === Kind.VIDEO_FRAME || kind === Kind.H264_FRAME || kind === Kind.SNAPSHOT
        ? this.limits.video
        : kind === Kind.AUDIO_CHUNK
          ? this.limits.audio
          : kind === Kind.OPUS_PACKET
            ? Math.min(this.limits.audio, OPUS_PACKET_FIELDS + MAX_OPUS_PACKET)
            : this.limits.control;
    return Math.min(limit, ABSOLUTE_MAX_PAYLOAD);
  }

  private readHeader(h: Buffer): void {
    if (h[0] !== MAGIC) {
      throw new ProtocolError(
        'VIGIL_ERR_BAD_MAGIC',
        `frame starts with byte 0x${h[0]!.toString(16).padStart(2, '0')}, not 0x56: the peer is not speaking the vigil protocol`,
      );
    }
    const code = h[1]!;
    const name = kindName(code);
    if (!name) throw new ProtocolError('VIGIL_ERR_UNKNOWN_KIND', `unknown message kind ${code}`);
    const length = h.readUInt32BE(2);
    const limit = this.limitFor(code as KindCode);
    if (length > limit) {
      throw new ProtocolError('VIGIL_ERR_TOO_LARGE', `${name} declares ${length} bytes; the limit is ${limit}`);
    }
    this.kind = code as KindCode;
    this.length = length;
    this.state = STATE_PAYLOAD;
  }

  /** Takes n bytes off the front, copying only when they span chunks. */
  private consume(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first && n === first.length) return this.chunks.shift()!;
    if (first && n < first.length) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const take = Math.min(c.length, n - off);
      c.copy(out, off, 0, take);
      off += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    return out;
  }
}
