// Voice activity over a session's audio and the `speech` incidents it opens and closes, with where the audio
// received so far ends; apart from session.ts, which records the audio and writes the incident timeline.
import { IncidentTracker, type Incident, type IncidentEvent, type IncidentIds } from '../detect/incidents';
import { VoiceActivityDetector } from '../detect/vad';
import type { AudioParams } from '../protocol';

export class SpeechWatch {
  /** True while the candidate is talking (voice activity, after its hangover). */
  speaking = false;
  /** Where the audio received so far ends, on the recording's timeline. */
  endS = 0;
  private readonly vad: VoiceActivityDetector | null;
  private readonly tracker: IncidentTracker;

  /** `ids` is shared with the face tracker, so incident ids are unique across a session. */
  constructor(audio: AudioParams | null, afterS: number, ids: IncidentIds) {
    this.tracker = new IncidentTracker(afterS, ids);
    // Opus is decoded to 16 kHz mono for it.
    this.vad = audio ? (audio.codec === 'opus' ? new VoiceActivityDetector(16000, 1) : new VoiceActivityDetector(audio.sampleRate, audio.channels)) : null;
  }

  /** The open `speech` incident, if any. */
  get open(): Incident | null {
    return this.tracker.open;
  }

  /** Voice activity over PCM; returns the speech incidents it opened or closed. */
  push(timestampMs: number, pcm: Buffer, rate: number, channels: number): IncidentEvent[] {
    if (!this.vad) return [];
    this.endS = Math.max(this.endS, timestampMs / 1000 + pcm.length / 2 / channels / rate);
    const events: IncidentEvent[] = [];
    for (const f of this.vad.push(pcm, timestampMs / 1000)) {
      this.speaking = f.speech;
      // Loudness as the confidence: -60 dBFS and below 0, full scale 1.
      events.push(...this.tracker.update(f.t, f.speech ? 'speech' : 'ok', Math.min(1, Math.max(0, (f.dbfs + 60) / 60))));
    }
    return events;
  }

  /** Speech still open ends where the audio ends, which may be well before the video does. */
  finish(): IncidentEvent[] {
    return this.tracker.finish(this.endS);
  }
}
