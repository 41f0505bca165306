import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IncidentIds, IncidentTracker, type IncidentEvent } from '../detect/incidents';
import { VoiceActivityDetector } from '../detect/vad';
import { MkvWriter } from '../media/mkv-writer';
import { muxSubtitles } from '../media/subtitles';
import { VTT_HEADER, vttCue } from '../media/webvtt';
import type { AudioParams, CandidateStatus, ModeName, VerdictName, VideoParams } from '../protocol';
import { AnalysisStats } from './analysis-stats';
import type { FrameAnalysis } from './frame-slot';
import { sessionDir } from './ids';
import { RateWindow } from './rate-window';

export const RECORDING_FILE = 'recording.mkv';
export const SESSION_FILE = 'session.json';
export const INCIDENTS_FILE = 'incidents.jsonl';
export const SUBTITLES_FILE = 'incidents.vtt';
/** How often session.json is refreshed while a session runs, so a crash leaves recent counters behind. */
const SESSION_FILE_REFRESH_MS = 5_000;

export interface SessionInit {
  recordDir: string;
  candidateId: string;
  sessionId: string;
  remoteAddress: string;
  clientVersion: string;
  video: VideoParams | null;
  audio: AudioParams | null;
  writingApp: string;
  /** How long a face state must hold before it opens or closes an incident. */
  incidentAfterS: number;
  /** How long speech (or the quiet after it) must hold before it opens or closes a `speech` incident. */
  speechAfterS: number;
}

/** session.json as written beside every recording; `ended` is `in_progress` until the session is finalised. */
export interface SessionRecord {
  candidate_id: string;
  session_id: string;
  remote_address: string;
  client_version: string;
  started_at: string;
  ended_at: string | null;
  ended: string;
  video: { codec: 'jpeg'; width: number; height: number; fps: number } | null;
  audio: { codec: 'pcm_s16le'; sample_rate: number; channels: number } | null;
  bytes_received: number;
  frames_received: number;
  frames_written: number;
  audio_chunks_received: number;
  audio_seconds: number;
  recording: string;
  recording_error: string | null;
  incidents: number;
  /** True once the incidents are muxed into the recording as a subtitle track. */
  subtitle_track: boolean;
  subtitle_error: string | null;
}

const INCIDENT_TEXT: Record<string, string> = {
  no_face: 'NO FACE - the candidate is not visible',
  misaligned: 'MISALIGNED - face at the edge, too far or too close',
  multiple_faces: 'MULTIPLE FACES - someone else is in the picture',
  speech: 'SPEECH',
  disconnected: 'DISCONNECTED',
};

/**
 * One candidate's session on disk: the Matroska recording, session.json and incidents.jsonl, plus the live
 * counters `vigil status` shows. It knows nothing of sockets; the connection feeds it messages.
 */
export class Session {
  mode: ModeName = 'both';
  face: VerdictName = 'unknown';
  faces = 0;
  bytesIn = 0;
  framesReceived = 0;
  audioChunksReceived = 0;
  private readonly startedAt = new Date();
  private readonly startedMono = performance.now();
  private readonly videoRate = new RateWindow();
  private readonly audioRate = new RateWindow();
  private readonly frameMs: number;
  private readonly refreshTimer: NodeJS.Timeout;
  private finishing: Promise<SessionRecord> | null = null;
  private recordChain: Promise<unknown> = Promise.resolve();
  private incidentChain: Promise<void> = Promise.resolve();
  private readonly tracker: IncidentTracker;
  private readonly speechTracker: IncidentTracker;
  private readonly vad: VoiceActivityDetector | null;
  /** True while the candidate is talking (voice activity, after its hangover). */
  speaking = false;
  /** Listeners of the live audio (`vigil listen`), called with every chunk as it arrives. */
  readonly audioListeners = new Set<(timestampMs: number, pcm: Buffer) => void>();
  /** Where the audio received so far ends, on the recording's timeline. */
  private audioEndS = 0;
  private incidentCount = 0;
  private subtitleTrack = false;
  private subtitleError: string | null = null;
  private ended: { at: Date; how: string } | null = null;
  /** Analysis counters and latencies, kept across the connections of a resumed session. */
  readonly analysis = new AnalysisStats();
  /** The latest analysis, for previews. */
  lastAnalysis: FrameAnalysis | null = null;
  /** The latest video frame as received, for previews (a reference, not a copy). */
  latestFrame: { jpeg: Buffer; timestampMs: number } | null = null;
  /** Per track: the last capture timestamp and sequence number recorded (they survive a resume). */
  lastVideoTs = -Infinity;
  lastAudioTs = -Infinity;
  lastVideoSeq = -1;
  lastAudioSeq = -1;
  /** The open `disconnected` incident while the candidate is away. */
  private gap: { id: number; startS: number } | null = null;

  private constructor(
    readonly init: SessionInit,
    readonly dir: string,
    private readonly writer: MkvWriter,
  ) {
    this.frameMs = init.video && init.video.fps > 0 ? 1000 / init.video.fps : 0;
    const ids = new IncidentIds();
    this.tracker = new IncidentTracker(init.incidentAfterS, ids);
    this.speechTracker = new IncidentTracker(init.speechAfterS, ids);
    this.vad = init.audio ? new VoiceActivityDetector(init.audio.sampleRate, init.audio.channels) : null;
    this.refreshTimer = setInterval(() => void this.writeRecord(null, 'in_progress').catch(() => undefined), SESSION_FILE_REFRESH_MS);
    this.refreshTimer.unref();
  }

  static async open(init: SessionInit): Promise<Session> {
    const dir = sessionDir(init.recordDir, init.candidateId, init.sessionId);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    const writer = await MkvWriter.create(path.join(dir, RECORDING_FILE), {
      video: init.video ? { width: init.video.width, height: init.video.height } : null,
      audio: init.audio ? { sampleRate: init.audio.sampleRate, channels: init.audio.channels } : null,
      title: `${init.candidateId} ${init.sessionId}`,
      startedAt: new Date(),
      writingApp: init.writingApp,
    });
    await writeFile(path.join(dir, INCIDENTS_FILE), '', { flag: 'wx', mode: 0o640 });
    await writeFile(path.join(dir, SUBTITLES_FILE), VTT_HEADER, { flag: 'wx', mode: 0o640 });
    const session = new Session(init, dir, writer);
    await session.writeRecord(null, 'in_progress');
    return session;
  }

  get id(): string {
    return this.init.candidateId;
  }

  /** Bytes handed to the recorder but not yet in the kernel. */
  get recorderBacklog(): number {
    return this.writer.pendingBytes;
  }

  get recorderError(): Error | null {
    return this.writer.failed;
  }

  /** Resolves when the recorder's queue is empty again (used to pause reading from a fast client). */
  recorderDrained(): Promise<void> {
    return this.writer.drained();
  }

  get ageMs(): number {
    return performance.now() - this.startedMono;
  }

  recordVideo(timestampMs: number, jpeg: Buffer): void {
    this.framesReceived++;
    this.latestFrame = { jpeg, timestampMs };
    this.videoRate.add(1);
    this.writer.writeVideo(timestampMs, jpeg, this.frameMs);
  }

  /** Records one chunk and runs voice activity over it; returns the speech incidents it opened or closed. */
  recordAudio(timestampMs: number, pcm: Buffer): IncidentEvent[] {
    this.audioChunksReceived++;
    this.audioRate.add(pcm.length);
    this.writer.writeAudio(timestampMs, pcm);
    for (const l of this.audioListeners) l(timestampMs, pcm);
    if (!this.vad) return [];
    this.audioEndS = Math.max(this.audioEndS, timestampMs / 1000 + pcm.length / 2 / this.init.audio!.channels / this.init.audio!.sampleRate);
    const events: IncidentEvent[] = [];
    for (const f of this.vad.push(pcm, timestampMs / 1000)) {
      this.speaking = f.speech;
      // Loudness as the confidence: -60 dBFS and below 0, full scale 1.
      events.push(...this.speechTracker.update(f.t, f.speech ? 'speech' : 'ok', Math.min(1, Math.max(0, (f.dbfs + 60) / 60))));
    }
    this.recordIncidents(events);
    return events;
  }

  /** Every byte the connection received, framing included. */
  countBytes(n: number): void {
    this.bytesIn += n;
  }

  get audioSeconds(): number {
    return this.init.audio ? this.writer.counts.audioSamples / this.init.audio.sampleRate : 0;
  }

  status(address: string): CandidateStatus {
    const age = this.ageMs;
    return {
      id: this.init.candidateId,
      session_id: this.init.sessionId,
      address,
      mode: this.mode,
      connected_s: round(age / 1000, 1),
      video_fps: round(this.videoRate.perSecond(age), 1),
      audio_kbps: round((this.audioRate.perSecond(age) * 8) / 1000, 1),
      bytes_in: this.bytesIn,
      frames_received: this.framesReceived,
      frames_recorded: this.writer.counts.videoFrames,
      audio_s: round(this.audioSeconds, 2),
      face: this.face,
      faces: this.faces,
      incident: this.tracker.open?.kind ?? this.speechTracker.open?.kind ?? null,
      speech: this.speaking,
      incidents: this.incidentCount,
      ...this.analysis.figures(age),
    };
  }

  /** The candidate's connection is gone: a `disconnected` incident opens at the session clock's now. */
  openGap(): IncidentEvent[] {
    if (this.gap) return [];
    this.gap = { id: this.tracker.allocateId(), startS: round(this.ageMs / 1000, 3) };
    const events: IncidentEvent[] = [{ type: 'open', incident: { id: this.gap.id, kind: 'disconnected', start_s: this.gap.startS, end_s: null, frames: 0, peak_confidence: 1 } }];
    this.recordIncidents(events);
    return events;
  }

  /** The candidate is back (or the resume window ran out): the `disconnected` incident closes now. */
  closeGap(): IncidentEvent[] {
    if (!this.gap) return [];
    const { id, startS } = this.gap;
    this.gap = null;
    const events: IncidentEvent[] = [{ type: 'close', incident: { id, kind: 'disconnected', start_s: startS, end_s: round(this.ageMs / 1000, 3), frames: 0, peak_confidence: 1 } }];
    this.recordIncidents(events);
    return events;
  }

  /** Takes one frame's verdict: updates the live face status and the incident timeline. */
  applyAnalysis(result: FrameAnalysis, timestampMs: number): IncidentEvent[] {
    this.lastAnalysis = result;
    this.face = result.verdict;
    this.faces = result.faces.length;
    const events = this.tracker.update(timestampMs / 1000, result.verdict, result.confidence);
    this.recordIncidents(events);
    return events;
  }

  /** incidents.jsonl gets a line when an incident opens and when it closes; incidents.vtt a cue when it closes. */
  private recordIncidents(events: IncidentEvent[]): void {
    if (events.length === 0) return;
    let lines = '';
    let cues = '';
    for (const e of events) {
      if (e.type === 'open') this.incidentCount++;
      lines += JSON.stringify({ event: e.type, ...e.incident, at: new Date().toISOString() }) + '\n';
      if (e.type === 'close') {
        const i = e.incident;
        cues += vttCue(i.id, i.start_s, i.end_s ?? i.start_s, INCIDENT_TEXT[i.kind] ?? i.kind.toUpperCase());
      }
    }
    const write = async (): Promise<void> => {
      await appendFile(path.join(this.dir, INCIDENTS_FILE), lines);
      if (cues) await appendFile(path.join(this.dir, SUBTITLES_FILE), cues);
    };
    this.incidentChain = this.incidentChain.then(write, write).catch(() => undefined);
  }

  private record(endedAt: Date | null, ended: string): SessionRecord {
    const { init } = this;
    return {
      candidate_id: init.candidateId,
      session_id: init.sessionId,
      remote_address: init.remoteAddress,
      client_version: init.clientVersion,
      started_at: this.startedAt.toISOString(),
      ended_at: endedAt ? endedAt.toISOString() : null,
      ended,
      video: init.video ? { codec: 'jpeg', width: init.video.width, height: init.video.height, fps: round(init.video.fps, 3) } : null,
      audio: init.audio ? { codec: 'pcm_s16le', sample_rate: init.audio.sampleRate, channels: init.audio.channels } : null,
      bytes_received: this.bytesIn,
      frames_received: this.framesReceived,
      frames_written: this.writer.counts.videoFrames,
      audio_chunks_received: this.audioChunksReceived,
      audio_seconds: round(this.audioSeconds, 3),
      recording: RECORDING_FILE,
      recording_error: this.writer.failed ? this.writer.failed.message : null,
      incidents: this.incidentCount,
      subtitle_track: this.subtitleTrack,
      subtitle_error: this.subtitleError,
    };
  }

  /**
   * Atomic replace, so a reader (or a crash) never sees half a session.json. Writes are chained so a periodic
   * refresh can never land after, and overwrite, the final record.
   */
  private writeRecord(endedAt: Date | null, ended: string): Promise<SessionRecord> {
    const write = async (): Promise<SessionRecord> => {
      const rec = this.record(endedAt, ended);
      const file = path.join(this.dir, SESSION_FILE);
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o640 });
      await rename(tmp, file);
      return rec;
    };
    const next = this.recordChain.then(write, write);
    this.recordChain = next.catch(() => undefined);
    return next;
  }

  /** Finalises the recording and closes session.json with how the session ended. Idempotent. */
  finish(ended: string): Promise<SessionRecord> {
    this.finishing ??= (async () => {
      clearInterval(this.refreshTimer);
      // An incident still open ends with the recording.
      this.recordIncidents(this.tracker.finish(Math.max(this.writer.endS, 0)));
      // Speech still open ends where the audio ends, which may be well before the video does.
      this.recordIncidents(this.speechTracker.finish(this.audioEndS));
      await this.incidentChain;
      let finalizeError: Error | null = null;
      try {
        await this.writer.finalize();
      } catch (err) {
        finalizeError = err as Error;
      }
      this.ended = { at: new Date(), how: ended };
      const rec = await this.writeRecord(this.ended.at, ended);
      if (finalizeError) throw finalizeError;
      return rec;
    })();
    return this.finishing;
  }

  /**
   * After finish(): muxes the incidents into the recording as a subtitle track. Kept apart from finish() because
   * it rewrites the whole file, which for a long session takes longer than a candidate should wait for its BYE.
   * Resolves true when a track was added.
   */
  async addSubtitles(): Promise<boolean> {
    await this.finishing;
    if (!this.ended || this.incidentCount === 0 || this.writer.failed || this.subtitleTrack) return false;
    try {
      await muxSubtitles(path.join(this.dir, RECORDING_FILE), path.join(this.dir, SUBTITLES_FILE), { title: 'vigil incidents' });
      this.subtitleTrack = true;
    } catch (err) {
      this.subtitleError = (err as Error).message;
    }
    await this.writeRecord(this.ended.at, this.ended.how);
    return this.subtitleTrack;
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
