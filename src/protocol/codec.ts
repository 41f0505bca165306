import {
  AlertCode,
  AudioCodec,
  ByeReason,
  HEADER_SIZE,
  Kind,
  MAGIC,
  Mode,
  SUPPORTED_VERSIONS,
  Verdict,
  VideoCodec,
  alertCodeName,
  audioCodecName,
  videoCodecName,
  byeReasonName,
  modeName,
  verdictName,
  type KindCode,
  type OptionalKind,
} from './constants';
import { ProtocolError } from './errors';
import { decodeV2Media, encodeV2Media, isV2Media } from './codec-v2';
import { FieldReader, FieldWriter } from './fields';
import type { AudioParams, Message, ReceiptGap, TrackReceipt, VideoParams } from './messages';

/** Field size caps, checked on decode so a hostile peer cannot make the other end allocate large strings. */
export const MAX_ID_BYTES = 128;
export const MAX_TOKEN_BYTES = 4096;
export const MAX_VERSION_BYTES = 64;
export const MAX_TEXT_BYTES = 1024;

/** Most gaps one RECEIPT carries per track (24 bytes each, so both tracks stay well inside the control limit). */
export const MAX_RECEIPT_GAPS = 200;

const HELLO_HAS_VIDEO = 0x01;
const HELLO_HAS_AUDIO = 0x02;
/** HELLO bits a client sets for each server -> client kind added after the first release that it understands. */
const HELLO_ACCEPTS: Record<OptionalKind, number> = { receipt: 0x04, alert: 0x08 };
const HELLO_KNOWN_BITS = HELLO_HAS_VIDEO | HELLO_HAS_AUDIO | HELLO_ACCEPTS.receipt | HELLO_ACCEPTS.alert;
const OPTIONAL_KINDS = Object.keys(HELLO_ACCEPTS) as OptionalKind[];

const RECEIPT_INTACT = 0x01;
const RECEIPT_GAPS_TRUNCATED = 0x02;

function writeTrackReceipt(w: FieldWriter, t: TrackReceipt): void {
  w.u32(t.messages).f64(t.samples).u32(t.firstSeq + 1).u32(t.lastSeq + 1);
  const gaps = t.gaps.slice(0, MAX_RECEIPT_GAPS);
  w.u16(gaps.length);
  for (const g of gaps) w.u32(g.fromSeq).u32(g.toSeq).f64(g.afterMs).f64(g.beforeMs);
}

function readTrackReceipt(r: FieldReader, track: string): TrackReceipt {
  const messages = r.u32(`${track}_messages`);
  const samples = r.f64(`${track}_samples`);
  if (!Number.isInteger(samples) || samples < 0) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `RECEIPT ${track} samples ${samples} is not a count`);
  const firstSeq = r.u32(`${track}_first_seq`) - 1;
  const lastSeq = r.u32(`${track}_last_seq`) - 1;
  const count = r.u16(`${track}_gaps`);
  if (count > MAX_RECEIPT_GAPS) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `RECEIPT ${track} lists ${count} gaps; at most ${MAX_RECEIPT_GAPS}`);
  const gaps: ReceiptGap[] = [];
  for (let i = 0; i < count; i++) {
    const fromSeq = r.u32('gap_from');
    const toSeq = r.u32('gap_to');
    if (toSeq < fromSeq) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `RECEIPT ${track} gap ${fromSeq}-${toSeq} runs backwards`);
    gaps.push({ fromSeq, toSeq, afterMs: timestamp(r, 'gap_after', 'RECEIPT'), beforeMs: timestamp(r, 'gap_before', 'RECEIPT') });
  }
  return { messages, samples, firstSeq, lastSeq, gaps };
}

/** The frame header and the fields in one buffer, so a message goes out as at most two: this and its payload. */
function headed(w: FieldWriter, kind: KindCode, tailLength: number): Buffer {
  return w.finishWith((h) => {
    h.writeUInt8(MAGIC, 0);
    h.writeUInt8(kind, 1);
    h.writeUInt32BE(w.length + tailLength, 2);
  });
}

/** Byte length cap for text a peer shows to a person: cut on a character boundary, never mid-sequence. */
export function clampText(text: string, maxBytes = MAX_TEXT_BYTES): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * Encodes a message as [header and fields, payload?]. The large payload (JPEG, PCM) is returned as its own buffer
 * so the sender can write it without copying it into a fresh frame.
 */
export function encodeParts(msg: Message): Buffer[] {
  const w = new FieldWriter(64, HEADER_SIZE);
  let tail: Buffer | null = null;
  let kind: KindCode;
  if (isV2Media(msg)) {
    ({ kind, tail } = encodeV2Media(msg, w));
    return [headed(w, kind, tail.length), tail];
  }
  switch (msg.type) {
    case 'hello': {
      kind = Kind.HELLO;
      w.u16(msg.version).str(msg.candidateId).str(msg.token).str(msg.clientVersion);
      let flags = (msg.video ? HELLO_HAS_VIDEO : 0) | (msg.audio ? HELLO_HAS_AUDIO : 0);
      for (const k of msg.accepts ?? []) flags |= HELLO_ACCEPTS[k];
      w.u8(flags);
      if (msg.video) w.u8(VideoCodec[msg.video.codec]).u16(msg.video.width).u16(msg.video.height).f32(msg.video.fps);
      if (msg.audio) w.u8(AudioCodec[msg.audio.codec]).u32(msg.audio.sampleRate).u8(msg.audio.channels);
      break;
    }
    case 'welcome':
      kind = Kind.WELCOME;
      w.str(msg.sessionId).u8(Mode[msg.mode]);
      w.u32(msg.limits.video).u32(msg.limits.audio).u32(msg.limits.control).u32(msg.idleTimeoutMs);
      // Sequence numbers travel as seq + 1, so 0 means "none received yet".
      w.u8(msg.resumed ? 1 : 0).u32(msg.lastVideoSeq + 1).u32(msg.lastAudioSeq + 1).f64(msg.resumeAtMs);
      // Appended for a version-2 client only: a version-1 decoder refuses trailing bytes.
      if (msg.snapshotIntervalMs !== undefined) w.u32(msg.snapshotIntervalMs);
      break;
    case 'video_frame':
      kind = Kind.VIDEO_FRAME;
      w.u32(msg.seq).f64(msg.timestampMs);
      tail = msg.jpeg;
      break;
    case 'audio_chunk':
      kind = Kind.AUDIO_CHUNK;
      w.u32(msg.seq).f64(msg.timestampMs);
      tail = msg.pcm;
      break;
    case 'mode':
      kind = Kind.MODE;
      w.u8(Mode[msg.mode]);
      break;
    case 'verdict':
      kind = Kind.VERDICT;
      w.u8(Verdict[msg.verdict]).u8(Math.min(255, msg.faces)).f64(msg.timestampMs).str(clampText(msg.text));
      break;
    case 'ping':
      kind = Kind.PING;
      w.u32(msg.nonce);
      break;
    case 'pong':
      kind = Kind.PONG;
      w.u32(msg.nonce);
      break;
    case 'bye':
      kind = Kind.BYE;
      w.u16(msg.reason === 'unknown' ? msg.code : ByeReason[msg.reason]).str(clampText(msg.text));
      break;
    case 'receipt':
      kind = Kind.RECEIPT;
      w.str(msg.sessionId);
      w.u8((msg.intact ? RECEIPT_INTACT : 0) | (msg.gapsTruncated || msg.video.gaps.length > MAX_RECEIPT_GAPS || msg.audio.gaps.length > MAX_RECEIPT_GAPS ? RECEIPT_GAPS_TRUNCATED : 0));
      writeTrackReceipt(w, msg.video);
      writeTrackReceipt(w, msg.audio);
      break;
    case 'alert':
      kind = Kind.ALERT;
      w.u16(msg.code === 'unknown' ? (msg.wireCode ?? 0) : AlertCode[msg.code]).str(clampText(msg.text));
      break;
  }
  return tail ? [headed(w, kind, tail.length), tail] : [headed(w, kind, 0)];
}

export function encode(msg: Message): Buffer {
  return Buffer.concat(encodeParts(msg));
}

function timestamp(r: FieldReader, field: string, what: string): number {
  const v = r.f64(field);
  if (!Number.isFinite(v) || v < 0) {
    throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `${what} ${field} must be a finite number >= 0, got ${v}`);
  }
  return v;
}

function decodeHello(r: FieldReader): Message {
  const version = r.u16('version');
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new ProtocolError(
      'VIGIL_ERR_VERSION',
      `HELLO speaks protocol version ${version}; this end speaks ${SUPPORTED_VERSIONS.join(' and ')}: upgrade the older side`,
    );
  }
  const candidateId = r.str('candidate_id', MAX_ID_BYTES);
  const token = r.str('token', MAX_TOKEN_BYTES);
  const clientVersion = r.str('client_version', MAX_VERSION_BYTES);
  const flags = r.u8('flags');
  if (flags & ~HELLO_KNOWN_BITS) {
    throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `HELLO flags 0x${flags.toString(16)} has unknown bits`);
  }
  let video: VideoParams | null = null;
  if (flags & HELLO_HAS_VIDEO) {
    const code = r.u8('video_codec');
    const codec = videoCodecName(code);
    if (!codec || (version === 1 && codec !== 'jpeg')) {
      throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `HELLO video codec ${code} is not JPEG (1)${version >= 2 ? ' or H.264 (2)' : ' (H.264 needs protocol version 2)'}`);
    }
    video = { codec, width: r.u16('width'), height: r.u16('height'), fps: r.f32('fps') };
  }
  let audio: AudioParams | null = null;
  if (flags & HELLO_HAS_AUDIO) {
    const code = r.u8('audio_codec');
    const codec = audioCodecName(code);
    if (!codec || (version === 1 && codec !== 'pcm_s16le')) {
      throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `HELLO audio codec ${code} is not PCM s16le (1)${version >= 2 ? ' or Opus (2)' : ' (Opus needs protocol version 2)'}`);
    }
    audio = { codec, sampleRate: r.u32('sample_rate'), channels: r.u8('channels') };
  }
  r.end();
  const accepts = OPTIONAL_KINDS.filter((k) => flags & HELLO_ACCEPTS[k]);
  // Left out for an older client, so its HELLO decodes exactly as it always did.
  return { type: 'hello', version, candidateId, token, clientVersion, video, audio, ...(accepts.length > 0 ? { accepts } : {}) };
}

/**
 * Decodes one payload whose kind and length the frame header already gave. Throws only ProtocolError.
 */
export function decodePayload(kind: KindCode, payload: Buffer): Message {
  const v2 = decodeV2Media(kind, payload);
  if (v2) return v2;
  switch (kind) {
    case Kind.HELLO:
      return decodeHello(new FieldReader(payload, 'HELLO'));
    case Kind.WELCOME: {
      const r = new FieldReader(payload, 'WELCOME');
      const sessionId = r.str('session_id', MAX_ID_BYTES);
      const modeCode = r.u8('mode');
      const mode = modeName(modeCode);
      if (!mode) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `WELCOME mode ${modeCode} is not 1, 2 or 3`);
      const limits = { video: r.u32('video_limit'), audio: r.u32('audio_limit'), control: r.u32('control_limit') };
      const idleTimeoutMs = r.u32('idle_timeout_ms');
      const resumedFlag = r.u8('resumed');
      if (resumedFlag > 1) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `WELCOME resumed flag ${resumedFlag} is not 0 or 1`);
      const lastVideoSeq = r.u32('last_video_seq') - 1;
      const lastAudioSeq = r.u32('last_audio_seq') - 1;
      const resumeAtMs = timestamp(r, 'resume_at', 'WELCOME');
      const snapshot = r.remaining > 0 ? { snapshotIntervalMs: r.u32('snapshot_interval_ms') } : {};
      r.end();
      return { type: 'welcome', sessionId, mode, limits, idleTimeoutMs, resumed: resumedFlag === 1, lastVideoSeq, lastAudioSeq, resumeAtMs, ...snapshot };
    }
    case Kind.VIDEO_FRAME: {
      const r = new FieldReader(payload, 'VIDEO_FRAME');
      const seq = r.u32('seq');
      const timestampMs = timestamp(r, 'timestamp', 'VIDEO_FRAME');
      const jpeg = r.rest();
      if (jpeg.length === 0) throw new ProtocolError('VIGIL_ERR_MALFORMED', 'VIDEO_FRAME carries no JPEG bytes');
      return { type: 'video_frame', seq, timestampMs, jpeg };
    }
    case Kind.AUDIO_CHUNK: {
      const r = new FieldReader(payload, 'AUDIO_CHUNK');
      const seq = r.u32('seq');
      const timestampMs = timestamp(r, 'timestamp', 'AUDIO_CHUNK');
      const pcm = r.rest();
      if (pcm.length === 0 || pcm.length % 2 !== 0) {
        throw new ProtocolError('VIGIL_ERR_MALFORMED', `AUDIO_CHUNK carries ${pcm.length} bytes; s16 PCM needs an even, non-zero count`);
      }
      return { type: 'audio_chunk', seq, timestampMs, pcm };
    }
    case Kind.MODE: {
      const r = new FieldReader(payload, 'MODE');
      const code = r.u8('mode');
      r.end();
      const mode = modeName(code);
      if (!mode) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `MODE ${code} is not 1 (audio), 2 (video) or 3 (both)`);
      return { type: 'mode', mode };
    }
    case Kind.VERDICT: {
      const r = new FieldReader(payload, 'VERDICT');
      const code = r.u8('verdict');
      const verdict = verdictName(code);
      if (!verdict) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `VERDICT ${code} is not a known verdict`);
      const faces = r.u8('faces');
      const timestampMs = timestamp(r, 'timestamp', 'VERDICT');
      const text = r.str('text', MAX_TEXT_BYTES);
      r.end();
      return { type: 'verdict', verdict, faces, timestampMs, text };
    }
    case Kind.PING:
    case Kind.PONG: {
      const r = new FieldReader(payload, kind === Kind.PING ? 'PING' : 'PONG');
      const nonce = r.u32('nonce');
      r.end();
      return { type: kind === Kind.PING ? 'ping' : 'pong', nonce };
    }
    case Kind.BYE: {
      const r = new FieldReader(payload, 'BYE');
      const code = r.u16('code');
      const text = r.str('text', MAX_TEXT_BYTES);
      r.end();
      return { type: 'bye', reason: byeReasonName(code) ?? 'unknown', code, text };
    }
    case Kind.RECEIPT: {
      const r = new FieldReader(payload, 'RECEIPT');
      const sessionId = r.str('session_id', MAX_ID_BYTES);
      const flags = r.u8('flags');
      if (flags & ~(RECEIPT_INTACT | RECEIPT_GAPS_TRUNCATED)) {
        throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `RECEIPT flags 0x${flags.toString(16)} has unknown bits`);
      }
      const video = readTrackReceipt(r, 'video');
      const audio = readTrackReceipt(r, 'audio');
      r.end();
      return { type: 'receipt', sessionId, intact: (flags & RECEIPT_INTACT) !== 0, gapsTruncated: (flags & RECEIPT_GAPS_TRUNCATED) !== 0, video, audio };
    }
    case Kind.ALERT: {
      const r = new FieldReader(payload, 'ALERT');
      const wireCode = r.u16('code');
      const text = r.str('text', MAX_TEXT_BYTES);
      r.end();
      const code = alertCodeName(wireCode);
      return code ? { type: 'alert', code, text } : { type: 'alert', code: 'unknown', text, wireCode };
    }
    default:
      throw new ProtocolError('VIGIL_ERR_UNKNOWN_KIND', `unknown message kind ${kind}`);
  }
}
