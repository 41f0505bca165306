// What the console's preview and listen-in get from a live session, turned into the admin protocol's shapes;
// apart from server.ts, which only finds the session.
import type { ListenChunk, PreviewFrame } from '../protocol';
import type { Session } from './session';

/** The candidate's latest frame and analysis, for the console's preview; null when there is none yet. */
export function previewOf(id: string, session: Session | null | undefined): PreviewFrame | null {
  const frame = session?.latestFrame;
  if (!session || !frame) return null;
  const faces = (session.lastAnalysis?.faces ?? []).map(({ x, y, w, h, score }) => ({ x, y, w, h, score }));
  return { id, timestamp_ms: frame.timestampMs, jpeg: frame.jpeg.toString('base64'), face: session.face, faces };
}

/** Streams the session's audio to `listener` until the returned function is called; null if it has no audio. */
export function listenTo(id: string, session: Session | null | undefined, listener: (chunk: ListenChunk) => void): (() => void) | null {
  const audio = session?.init.audio;
  if (!session || !audio) return null;
  const l = (timestampMs: number, pcm: Buffer): void =>
    listener({ id, timestamp_ms: timestampMs, sample_rate: audio.sampleRate, channels: audio.channels, pcm: pcm.toString('base64') });
  session.audioListeners.add(l);
  return () => session.audioListeners.delete(l);
}
