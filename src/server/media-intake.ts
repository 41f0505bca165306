// The checks a VIDEO_FRAME or AUDIO_CHUNK must pass against the HELLO and the session before it is recorded
// (declared track, JPEG or whole samples, sequence, capture time); apart from connection.ts, which only dispatches.
import { ProtocolError, type AudioChunkMessage, type HelloMessage, type VideoFrameMessage } from '../protocol';
import type { IncidentEvent } from '../detect/incidents';
import type { Session } from './session';

const JPEG_SOI = 0xffd8;

/** Checks and records a VIDEO_FRAME; false for a harmless repeat that was not recorded. */
export function recordVideoFrame(hello: HelloMessage, session: Session, msg: VideoFrameMessage, maxClockLeadMs: number): boolean {
  if (!hello.video) throw new ProtocolError('VIGIL_ERR_MALFORMED', 'VIDEO_FRAME sent, but HELLO declared no video');
  if (msg.jpeg.length < 4 || msg.jpeg.readUInt16BE(0) !== JPEG_SOI) {
    throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `VIDEO_FRAME ${msg.seq} is not a JPEG image`);
  }
  // A resumed client resends from what the server last recorded; anything older is a harmless repeat.
  if (msg.seq <= session.lastVideoSeq) return false;
  session.lastVideoTs = checkTimestamp(session, maxClockLeadMs, 'VIDEO_FRAME', msg.timestampMs, session.lastVideoTs);
  session.lastVideoSeq = msg.seq;
  session.ledger.video.accept(msg.seq, msg.timestampMs);
  session.recordVideo(msg.timestampMs, msg.jpeg);
  return true;
}

/** Checks and records an AUDIO_CHUNK; returns the speech incidents it opened or closed (none for a repeat). */
export function recordAudioChunk(hello: HelloMessage, session: Session, msg: AudioChunkMessage, maxClockLeadMs: number): IncidentEvent[] {
  const audio = hello.audio;
  if (!audio) throw new ProtocolError('VIGIL_ERR_MALFORMED', 'AUDIO_CHUNK sent, but HELLO declared no audio');
  if (msg.pcm.length % (2 * audio.channels) !== 0) {
    throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `AUDIO_CHUNK ${msg.seq} is not a whole number of ${audio.channels}-channel samples`);
  }
  if (msg.seq <= session.lastAudioSeq) return [];
  session.lastAudioTs = checkTimestamp(session, maxClockLeadMs, 'AUDIO_CHUNK', msg.timestampMs, session.lastAudioTs);
  session.lastAudioSeq = msg.seq;
  session.ledger.audio.accept(msg.seq, msg.timestampMs);
  return session.recordAudio(msg.timestampMs, msg.pcm);
}

/** Capture times must not go backwards per track, nor run far ahead of the time the session has existed. */
export function checkTimestamp(session: Session, maxClockLeadMs: number, what: string, ts: number, last: number): number {
  if (ts < last) throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `${what} timestamp ${ts} ms is before the previous one (${last} ms)`);
  const limit = session.ageMs + maxClockLeadMs;
  if (ts > limit) {
    throw new ProtocolError('VIGIL_ERR_BAD_VALUE', `${what} timestamp ${Math.round(ts)} ms is ahead of the session clock (${Math.round(limit)} ms)`);
  }
  return ts;
}
