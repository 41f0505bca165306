// The checks version-2 media (codec configuration, H.264 access units, Opus packets, snapshots) must pass
// against the HELLO and the session before it is recorded or analysed; apart from connection.ts, which only
// dispatches. Each refusal is a ProtocolError whose code picks the BYE reason the candidate is told.
import { splitLengthPrefixed, parseAvcConfig, H264Error } from '../media/h264';
import { OpusError, opusPacketSamples, parseOpusHead } from '../media/ogg-opus';
import { ProtocolError, type CodecConfigMessage, type H264FrameMessage, type HelloMessage, type OpusPacketMessage, type SnapshotMessage } from '../protocol';
import { checkTimestamp } from './media-intake';
import type { Session } from './session';

const JPEG_SOI = 0xffd8;
/** Detection needs at least 3 pictures a second; more than 4 costs wire bits the verdicts do not need. */
const MIN_SNAPSHOT_INTERVAL_MS = 250;
const PREVIEW_ONLY_SNAPSHOT_MS = 1000;

/**
 * The WELCOME field a version-2 client gets (a version-1 client gets none: its decoder refuses extra bytes): how
 * often to send a snapshot of its H.264 camera; 0 when the camera is JPEG (every frame is a picture already).
 */
export function snapshotIntervalFor(hello: HelloMessage, analyzeIntervalMs: number | null): { snapshotIntervalMs?: number } {
  if (hello.version < 2) return {};
  if (hello.video?.codec !== 'h264') return { snapshotIntervalMs: 0 };
  // Without detection, one a second still gives the console's preview a picture (the server never decodes H.264).
  if (analyzeIntervalMs === null) return { snapshotIntervalMs: PREVIEW_ONLY_SNAPSHOT_MS };
  return { snapshotIntervalMs: Math.round(Math.max(analyzeIntervalMs, MIN_SNAPSHOT_INTERVAL_MS)) };
}

/** What one connection has seen of the H.264 stream: decoding restarts on every connection and configuration. */
export interface H264Intake {
  /** The next H264_FRAME must be an IDR: set when a connection starts and when the configuration changes. */
  needKeyframe: boolean;
}

export function newH264Intake(): H264Intake {
  return { needKeyframe: true };
}

export function applyCodecConfig(hello: HelloMessage, session: Session, msg: CodecConfigMessage, intake: H264Intake): void {
  const declared = msg.track === 'video' ? hello.video?.codec : hello.audio?.codec;
  if (declared !== 'h264' && declared !== 'opus') {
    throw new ProtocolError('VIGIL_ERR_CODEC_CONFIG', `CODEC_CONFIG for ${msg.track}, but HELLO declared ${declared ? `${declared}, which takes none` : `no ${msg.track}`}`);
  }
  let codecDelayNs: number | null = null;
  try {
    if (declared === 'h264') parseAvcConfig(msg.data);
    else {
      const head = parseOpusHead(msg.data);
      if (head.channels !== hello.audio!.channels) throw new OpusError(`OpusHead has ${head.channels} channels; HELLO declared ${hello.audio!.channels}`);
      codecDelayNs = Math.round((head.preSkip / 48000) * 1e9);
    }
  } catch (err) {
    if (err instanceof H264Error || err instanceof OpusError) throw new ProtocolError('VIGIL_ERR_CODEC_CONFIG', err.message);
    throw err;
  }
  const current = session.codecConfig[msg.track];
  if (current?.equals(msg.data)) return; // a resumed client repeats its configuration
  if (current && (msg.track === 'audio' ? session.lastAudioSeq : session.lastVideoSeq) >= 0) {
    // Matroska has one CodecPrivate per track: frames already recorded were coded against the old one.
    throw new ProtocolError('VIGIL_ERR_CODEC_CONFIG', `the ${msg.track} codec configuration changed mid-recording; reconnect with a new HELLO to start a new recording`);
  }
  session.configure(msg.track, msg.data, codecDelayNs);
  if (msg.track === 'video') intake.needKeyframe = true;
}

/** Checks and records an H264_FRAME; false for a harmless repeat that was not recorded. */
export function recordH264Frame(hello: HelloMessage, session: Session, msg: H264FrameMessage, intake: H264Intake, maxClockLeadMs: number): boolean {
  if (hello.video?.codec !== 'h264') throw new ProtocolError('VIGIL_ERR_MALFORMED', `H264_FRAME sent, but HELLO declared ${hello.video ? hello.video.codec : 'no'} video`);
  if (!session.codecConfig.video) throw new ProtocolError('VIGIL_ERR_CODEC_CONFIG', `H264_FRAME ${msg.seq} arrived before any CODEC_CONFIG (avcC) for the video track`);
  try {
    splitLengthPrefixed(msg.data);
  } catch (err) {
    if (err instanceof H264Error) throw new ProtocolError('VIGIL_ERR_MEDIA', `H264_FRAME ${msg.seq} is not length-prefixed NAL units: ${err.message}`);
    throw err;
  }
  // A decoder can only start at an IDR: the first frame of a connection (a resumed client resends from its last
  // keyframe), the first after a new configuration, and the first after frames were lost must each be one.
  const gap = session.lastVideoSeq >= 0 && msg.seq > session.lastVideoSeq + 1;
  if (!msg.keyframe && (intake.needKeyframe || gap)) {
    const why = intake.needKeyframe ? 'the first H264_FRAME after a connection or a configuration' : `H264_FRAME ${msg.seq} follows lost frames (last recorded ${session.lastVideoSeq}) and`;
    throw new ProtocolError('VIGIL_ERR_KEYFRAME', `${why} must be a keyframe (IDR); frame ${msg.seq} is not`);
  }
  intake.needKeyframe = false;
  if (msg.seq <= session.lastVideoSeq) return false;
  session.lastVideoTs = checkTimestamp(session, maxClockLeadMs, 'H264_FRAME', msg.timestampMs, session.lastVideoTs);
  session.lastVideoSeq = msg.seq;
  session.ledger.video.accept(msg.seq, msg.timestampMs);
  session.recordVideo(msg.timestampMs, msg.data, msg.keyframe);
  return true;
}

export function recordOpusPacket(hello: HelloMessage, session: Session, msg: OpusPacketMessage, maxClockLeadMs: number): void {
  if (hello.audio?.codec !== 'opus') throw new ProtocolError('VIGIL_ERR_MALFORMED', `OPUS_PACKET sent, but HELLO declared ${hello.audio ? hello.audio.codec : 'no'} audio`);
  if (!session.codecConfig.audio) throw new ProtocolError('VIGIL_ERR_CODEC_CONFIG', `OPUS_PACKET ${msg.seq} arrived before any CODEC_CONFIG (OpusHead) for the audio track`);
  let samples: number;
  try {
    samples = opusPacketSamples(msg.data);
  } catch (err) {
    if (err instanceof OpusError) throw new ProtocolError('VIGIL_ERR_MEDIA', `OPUS_PACKET ${msg.seq}: ${err.message}`);
    throw err;
  }
  if (samples !== msg.samples) throw new ProtocolError('VIGIL_ERR_MEDIA', `OPUS_PACKET ${msg.seq} says ${msg.samples} samples; its TOC byte says ${samples}`);
  if (msg.seq <= session.lastAudioSeq) return;
  session.lastAudioTs = checkTimestamp(session, maxClockLeadMs, 'OPUS_PACKET', msg.timestampMs, session.lastAudioTs);
  session.lastAudioSeq = msg.seq;
  session.ledger.audio.accept(msg.seq, msg.timestampMs);
  session.recordOpus(msg.timestampMs, msg.data, samples);
}

/** Checks a SNAPSHOT and makes it the preview; true when it should go to the detector. */
export function takeSnapshot(hello: HelloMessage, session: Session, msg: SnapshotMessage): boolean {
  if (hello.video?.codec !== 'h264') throw new ProtocolError('VIGIL_ERR_MALFORMED', 'SNAPSHOT sent, but HELLO declared no H.264 video (a JPEG camera is analysed frame by frame)');
  if (msg.jpeg.length < 4 || msg.jpeg.readUInt16BE(0) !== JPEG_SOI) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', 'SNAPSHOT is not a JPEG image');
  session.latestFrame = { jpeg: msg.jpeg, timestampMs: msg.timestampMs };
  return true;
}
