// Payload layouts of the version-2 media kinds (H.264, Opus, codec configuration, snapshots); apart from
// codec.ts so the version-1 layouts stay as they were.
import { Kind, MAX_CODEC_CONFIG, type KindCode } from './constants';
import { ProtocolError } from './errors';
import { FieldReader, type FieldWriter } from './fields';
import type { CodecConfigMessage, H264FrameMessage, Message, OpusPacketMessage, SnapshotMessage } from './messages';

export type V2MediaMessage = CodecConfigMessage | H264FrameMessage | OpusPacketMessage | SnapshotMessage;

const TRACK_CODE = { video: 1, audio: 2 } as const;
const H264_KEYFRAME = 0x01;
/** An Opus packet lasts 2.5..120 ms: 120..5760 samples at 48 kHz. */
const MIN_OPUS_SAMPLES = 120;
const MAX_OPUS_SAMPLES = 5760;

export function isV2Media(msg: Message): msg is V2MediaMessage {
  return msg.type === 'codec_config' || msg.type === 'h264_frame' || msg.type === 'opus_packet' || msg.type === 'snapshot';
}

/** Writes the fields of a version-2 media message; returns its kind and the payload that follows the fields. */
export function encodeV2Media(msg: V2MediaMessage, w: FieldWriter): { kind: KindCode; tail: Buffer } {
  switch (msg.type) {
    case 'codec_config':
      w.u8(TRACK_CODE[msg.track]);
      return { kind: Kind.CODEC_CONFIG, tail: msg.data };
    case 'h264_frame':
      w.u32(msg.seq).f64(msg.timestampMs).u8(msg.keyframe ? H264_KEYFRAME : 0);
      return { kind: Kind.H264_FRAME, tail: msg.data };
    case 'opus_packet':
      w.u32(msg.seq).f64(msg.timestampMs).u16(msg.samples);
      return { kind: Kind.OPUS_PACKET, tail: msg.data };
    case 'snapshot':
      w.f64(msg.timestampMs);
      return { kind: Kind.SNAPSHOT, tail: msg.jpeg };
  }
}

function timestamp(r: FieldReader, what: string): number {
  const v = r.f64('timestamp');
  if (!Number.isFinite(v) || v < 0) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `${what} timestamp must be a finite number >= 0, got ${v}`);
  return v;
}

/** Decodes a version-2 media payload; null when `kind` is not one. */
export function decodeV2Media(kind: KindCode, payload: Buffer): V2MediaMessage | null {
  switch (kind) {
    case Kind.CODEC_CONFIG: {
      const r = new FieldReader(payload, 'CODEC_CONFIG');
      const code = r.u8('track');
      const track = code === TRACK_CODE.video ? 'video' : code === TRACK_CODE.audio ? 'audio' : null;
      if (!track) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `CODEC_CONFIG track ${code} is not 1 (video) or 2 (audio)`);
      const data = r.rest();
      if (data.length === 0 || data.length > MAX_CODEC_CONFIG) {
        throw new ProtocolError('VIGIL_ERR_CODEC_CONFIG', `CODEC_CONFIG for ${track} carries ${data.length} bytes; 1..${MAX_CODEC_CONFIG} are accepted`);
      }
      return { type: 'codec_config', track, data };
    }
    case Kind.H264_FRAME: {
      const r = new FieldReader(payload, 'H264_FRAME');
      const seq = r.u32('seq');
      const timestampMs = timestamp(r, 'H264_FRAME');
      const flags = r.u8('flags');
      if (flags & ~H264_KEYFRAME) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `H264_FRAME flags 0x${flags.toString(16)} has unknown bits`);
      const data = r.rest();
      if (data.length === 0) throw new ProtocolError('VIGIL_ERR_MALFORMED', 'H264_FRAME carries no access unit');
      return { type: 'h264_frame', seq, timestampMs, keyframe: (flags & H264_KEYFRAME) !== 0, data };
    }
    case Kind.OPUS_PACKET: {
      const r = new FieldReader(payload, 'OPUS_PACKET');
      const seq = r.u32('seq');
      const timestampMs = timestamp(r, 'OPUS_PACKET');
      const samples = r.u16('samples');
      if (samples < MIN_OPUS_SAMPLES || samples > MAX_OPUS_SAMPLES) {
        throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `OPUS_PACKET lasts ${samples} samples; an Opus packet lasts ${MIN_OPUS_SAMPLES}..${MAX_OPUS_SAMPLES}`);
      }
      const data = r.rest();
      if (data.length === 0) throw new ProtocolError('VIGIL_ERR_MALFORMED', 'OPUS_PACKET carries no packet');
      return { type: 'opus_packet', seq, timestampMs, samples, data };
    }
    case Kind.SNAPSHOT: {
      const r = new FieldReader(payload, 'SNAPSHOT');
      const timestampMs = timestamp(r, 'SNAPSHOT');
      const jpeg = r.rest();
      if (jpeg.length === 0) throw new ProtocolError('VIGIL_ERR_MALFORMED', 'SNAPSHOT carries no JPEG bytes');
      return { type: 'snapshot', timestampMs, jpeg };
    }
    default:
      return null;
  }
}
