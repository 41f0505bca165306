import type { AlertMessage, ModeName, ReceiptMessage, VerdictName } from '../protocol';

/** What the candidate reads: one line per thing they should know. */
export const VERDICT_LINES: Record<VerdictName, string> = {
  unknown: 'face status unknown',
  ok: 'OK face visible',
  no_face: 'WARNING no_face: we cannot see your face - look at the camera',
  misaligned: 'WARNING misaligned: your face is at the edge of the picture - move to the centre',
  multiple_faces: 'WARNING multiple_faces: someone else is in the picture - you must be alone',
};

export const MODE_LINES: Record<ModeName, string> = {
  audio: 'MODE audio: the proctor switched you to audio only (video paused)',
  video: 'MODE video: the proctor switched you to video only (audio paused)',
  both: 'MODE both: sending video and audio',
};

export function alertLine(m: AlertMessage): string {
  return `ALERT ${m.code === 'unknown' ? `unknown(${m.wireCode ?? '?'})` : m.code}: ${m.text}`;
}

export function receiptLine(m: ReceiptMessage, audioRate: number): string {
  const audio = audioRate > 0 ? `, ${m.audio.messages} audio chunks (${(m.audio.samples / audioRate).toFixed(2)} s)` : '';
  const gaps = m.video.gaps.length + m.audio.gaps.length;
  return `RECEIPT session ${m.sessionId}: ${m.video.messages} video frames${audio} recorded${gaps ? `, ${gaps} gap(s)` : ''}${m.intact ? '' : ', recording damaged'}`;
}
