// What a session keeps about its compressed tracks (H.264, Opus): the codec configurations as recorded, who
// listens to the Opus packets, and the decoder that turns them into 16 kHz PCM for voice activity. Apart from
// session.ts, which owns the recorder and the incident timeline.
import type { IncidentEvent } from '../detect/incidents';
import { opusPcmPool, type RemoteOpusDecoder } from '../media/opus-pcm-pool';

export interface SpeechHooks {
  /** Speech incidents found after the packet's message was handled (decoding runs beside the event loop). */
  events(e: IncidentEvent[]): void;
  /** The decoder died: speech detection has stopped for this candidate (the recording goes on). */
  failed(err: Error): void;
}

export class SessionCodecs {
  readonly config: { video: Buffer | null; audio: Buffer | null } = { video: null, audio: null };
  readonly opusListeners = new Set<(timestampMs: number, packet: Buffer, samples: number) => void>();
  /** Set by the connection that currently carries the session. */
  hooks: SpeechHooks | null = null;
  private decoder: RemoteOpusDecoder | null = null;
  private closed = false;

  /** `speech` runs voice activity over decoded PCM (16 kHz mono) and returns the incidents it opened or closed. */
  constructor(private readonly speech: ((timestampMs: number, pcm: Buffer) => IncidentEvent[]) | null) {}

  configured(track: 'video' | 'audio', data: Buffer): void {
    this.config[track] = data;
    if (track !== 'audio' || !this.speech || this.closed) return;
    this.decoder?.close();
    const speech = this.speech;
    // In the pool's thread: spawning a decoder per candidate must not stall the event loop.
    this.decoder = opusPcmPool.open(
      data,
      (ts, pcm) => {
        const e = speech(ts, pcm);
        if (e.length > 0) this.hooks?.events(e);
      },
      (err) => this.hooks?.failed(err),
      16000,
      true,
      false,
    );
  }

  packet(timestampMs: number, packet: Buffer, samples: number): void {
    this.decoder?.push(timestampMs, packet, samples);
    for (const l of this.opusListeners) l(timestampMs, packet, samples);
  }

  /** The session ends: the speech in the last packets still in the decoder is waited for, then it stops. */
  async close(): Promise<void> {
    this.closed = true;
    await this.decoder?.drain();
  }
}
