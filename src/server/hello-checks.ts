// The rules a HELLO's declared media must meet, and whether a new HELLO can continue a kept session's recording.
import type { HelloMessage } from '../protocol';
import type { Session } from './session';

/** Can this HELLO continue the session's recording (same tracks, same formats)? */
export function sameMedia(session: Session, hello: HelloMessage): boolean {
  const a = session.init;
  const sameVideo = (a.video === null) === (hello.video === null) && (!a.video || (a.video.codec === hello.video!.codec && a.video.width === hello.video!.width && a.video.height === hello.video!.height));
  const sameAudio = (a.audio === null) === (hello.audio === null) && (!a.audio || (a.audio.codec === hello.audio!.codec && a.audio.sampleRate === hello.audio!.sampleRate && a.audio.channels === hello.audio!.channels));
  return sameVideo && sameAudio;
}

export function helloMediaProblem(hello: HelloMessage): string | null {
  if (!hello.video && !hello.audio) return 'HELLO declares neither video nor audio';
  const v = hello.video;
  if (v && (v.width < 16 || v.width > 4096 || v.height < 16 || v.height > 4096)) return `video size ${v.width}x${v.height} is outside 16x16..4096x4096`;
  if (v && !(v.fps >= 0.5 && v.fps <= 120)) return `video frame rate ${v.fps} is outside 0.5..120`;
  const a = hello.audio;
  if (a && (a.sampleRate < 8000 || a.sampleRate > 96000)) return `audio sample rate ${a.sampleRate} is outside 8000..96000`;
  if (a?.codec === 'opus' && a.sampleRate !== 48000) return `Opus audio is declared at ${a.sampleRate} Hz; Opus streams run at 48000`;
  if (a && (a.channels < 1 || a.channels > 2)) return `audio has ${a.channels} channels; 1 or 2 are accepted`;
  return null;
}
