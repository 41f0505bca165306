// The sentence a candidate's final BYE carries: what the recording really holds, never what was received, and
// what was lost when a write failed. Apart from session.ts, which owns the counters.
import type { MkvWriter } from '../media/mkv-writer';
import type { AudioParams } from '../protocol';
import type { WriteErrorRecord } from './session-files';
import type { Carried } from './session-part';

export function receiptText(writer: MkvWriter, audio: AudioParams | null, audioSeconds: number, carried: Carried, firstFailure: WriteErrorRecord | null): string {
  const counts = writer.counts;
  const earlier = carried.video.messages + carried.audio.messages > 0 ? ` in this part (earlier parts on other nodes hold ${carried.video.messages} video frames more)` : '';
  const held = `${counts.videoFrames} video frames and ${audioSeconds.toFixed(2)} s of audio${earlier}`;
  if (!firstFailure) return `recorded ${held}`;
  const lost = writer.notWritten;
  const lostS = audio ? lost.audioSamples / audio.sampleRate : 0;
  return `recording FAILED (${firstFailure.message}): only ${held} were recorded; ${lost.videoFrames} video frames and ${lostS.toFixed(2)} s of audio were lost`;
}
