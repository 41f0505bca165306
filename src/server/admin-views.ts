// What the console's preview and listen-in get from a live session, turned into the admin protocol's shapes;
// apart from server.ts, which only finds the session.
import { OpusPcmDecoder } from '../media/opus-pcm';
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
  if (audio.codec === 'opus') return listenToOpus(id, session, listener);
  const l = (timestampMs: number, pcm: Buffer): void =>
    listener({ id, timestamp_ms: timestampMs, sample_rate: audio.sampleRate, channels: audio.channels, pcm: pcm.toString('base64') });
  session.audioListeners.add(l);
  return () => session.audioListeners.delete(l);
}

/**
 * Opus arrives as packets; the listener wants PCM. One ffmpeg decoder runs while this candidate is listened to,
 * started at the first packet after the OpusHead is known (a decoder started mid-stream needs no earlier state).
 */
function listenToOpus(id: string, session: Session, listener: (chunk: ListenChunk) => void): () => void {
  let decoder: OpusPcmDecoder | null = null;
  let failed = false;
  const l = (timestampMs: number, packet: Buffer, samples: number): void => {
    const head = session.codecConfig.audio;
    if (!decoder && head && !failed) {
      const d = new OpusPcmDecoder(
        head,
        (ts, pcm) => listener({ id, timestamp_ms: ts, sample_rate: 48000, channels: d.channels, pcm: pcm.toString('base64') }),
        () => {
          // The listener hears silence rather than a stream that claims to be live; the recording is untouched.
          failed = true;
          d.close();
        },
      );
      decoder = d;
    }
    decoder?.push(timestampMs, packet, samples);
  };
  session.opusListeners.add(l);
  return () => {
    session.opusListeners.delete(l);
    decoder?.close();
  };
}
