// What session.json says about a session, built from its counters; apart from session.ts, which owns the
// counters and decides when the record is written.
import type { MkvWriter } from '../media/mkv-writer';
import type { SessionInit } from './session';
import { RECORDING_FILE, type SessionRecord, type WriteFailures } from './session-files';

/** A session's counters at the moment its record is taken. */
export interface SessionFacts {
  init: SessionInit;
  startedAt: Date;
  writer: MkvWriter;
  failures: WriteFailures;
  bytesIn: number;
  framesReceived: number;
  audioChunksReceived: number;
  audioSeconds: number;
  incidentCount: number;
  subtitleTrack: boolean;
  subtitleError: string | null;
}

export function sessionRecord(f: SessionFacts, endedAt: Date | null, how: string): SessionRecord {
  const { init } = f;
  const counts = f.writer.counts;
  // While the recorder works, blocks in flight are not lost; after a failure, everything not written is.
  const lost = f.writer.failed ? f.writer.notWritten : null;
  const failed = f.failures.any && how !== 'in_progress';
  return {
    candidate_id: init.candidateId,
    session_id: init.sessionId,
    remote_address: init.remoteAddress,
    client_version: init.clientVersion,
    started_at: f.startedAt.toISOString(),
    ended_at: endedAt ? endedAt.toISOString() : null,
    ended: failed ? 'recording_failed' : how,
    end_cause: how === 'in_progress' ? null : how,
    video: init.video ? { codec: init.video.codec, width: init.video.width, height: init.video.height, fps: round(init.video.fps, 3) } : null,
    audio: init.audio ? { codec: init.audio.codec, sample_rate: init.audio.sampleRate, channels: init.audio.channels } : null,
    bytes_received: f.bytesIn,
    frames_received: f.framesReceived,
    frames_written: counts.videoFrames,
    audio_chunks_received: f.audioChunksReceived,
    audio_seconds: round(f.audioSeconds, 3),
    bytes_written: counts.bytes,
    frames_lost: lost ? lost.videoFrames : 0,
    audio_seconds_lost: lost && init.audio ? round(lost.audioSamples / init.audio.sampleRate, 3) : 0,
    recording: RECORDING_FILE,
    recording_error: f.failures.recording?.message ?? null,
    write_errors: [...f.failures.records],
    incidents: f.incidentCount,
    subtitle_track: f.subtitleTrack,
    subtitle_error: f.subtitleError,
  };
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
