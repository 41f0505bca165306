import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { IncidentIds, IncidentTracker, type IncidentEvent } from '../detect/incidents';
import { VoiceActivityDetector } from '../detect/vad';
import { MkvWriter } from '../media/mkv-writer';
import { muxSubtitles } from '../media/subtitles';
import { VTT_HEADER } from '../media/webvtt';
import { RecordingWriteError } from '../media/write-error';
import type { AudioParams, CandidateStatus, ModeName, VerdictName, VideoParams, WriteFailure } from '../protocol';
import { AnalysisStats } from './analysis-stats';
import type { FrameAnalysis } from './frame-slot';
import { sessionDir } from './ids';
import { MediaLedger } from './media-ledger';
import { RateWindow } from './rate-window';
import { round, sessionRecord } from './session-record';
import {
  INCIDENTS_FILE,
  RECORDING_FILE,
  SESSION_FILE,
  SUBTITLES_FILE,
  WriteFailures,
  appendTo,
  createFile,
  replaceFile,
  timelineText,
  type SessionRecord,
} from './session-files';

export { INCIDENTS_FILE, RECORDING_FILE, SESSION_FILE, SUBTITLES_FILE, type SessionRecord, type WriteErrorRecord } from './session-files';
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
  private refreshTimer: NodeJS.Timeout | null = null;
  /** Every failed write to this session's files; the owner listens through `onWriteFailure`. */
  private readonly failures = new WriteFailures();
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
  /** The sequence numbers recorded per track, for the RECEIPT. */
  readonly ledger = new MediaLedger();
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
    // Speech detection reads PCM; an Opus track would need a decoder per candidate (see README, H.264 + Opus).
    this.vad = init.audio?.codec === 'pcm_s16le' ? new VoiceActivityDetector(init.audio.sampleRate, init.audio.channels) : null;
  }

  /**
   * Creates the session's folder and files and writes the Matroska header and a first session.json, all of
   * which must reach the disk before the candidate is welcomed. If any step fails, what was opened is closed
   * (the file handle; the refresh timer is only started on success) and the error is thrown.
   */
  static async open(init: SessionInit): Promise<Session> {
    const dir = sessionDir(init.recordDir, init.candidateId, init.sessionId);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    let session: Session | null = null;
    const early: RecordingWriteError[] = [];
    const writer = await MkvWriter.create(
      path.join(dir, RECORDING_FILE),
      {
        video: init.video ? { codec: init.video.codec, width: init.video.width, height: init.video.height } : null,
        audio: init.audio ? { codec: init.audio.codec, sampleRate: init.audio.sampleRate, channels: init.audio.channels } : null,
        title: `${init.candidateId} ${init.sessionId}`,
        startedAt: new Date(),
        writingApp: init.writingApp,
      },
      (err) => (session ? session.failures.add(err) : early.push(err)),
    );
    try {
      await writer.flushed();
      await createFile(path.join(dir, INCIDENTS_FILE), '');
      await createFile(path.join(dir, SUBTITLES_FILE), VTT_HEADER);
      session = new Session(init, dir, writer);
      await session.writeRecord(null, 'in_progress');
    } catch (err) {
      await writer.abandon().catch(() => undefined);
      throw early[0] ?? err;
    }
    session.refreshTimer = setInterval(() => void session!.writeRecord(null, 'in_progress').catch(() => undefined), SESSION_FILE_REFRESH_MS);
    session.refreshTimer.unref();
    return session;
  }

  /**
   * Who hears of a failed write (the server: it logs, publishes and tells the candidate). Called once per
   * file, with the first failure; every failure is also kept for session.json.
   */
  onWriteFailure(listener: (err: RecordingWriteError) => void): void {
    this.failures.listen(listener);
  }

  /** Audio chunks whose bytes reached the file. */
  get audioChunksRecorded(): number {
    return this.writer.counts.audioChunks;
  }

  /** The first failed write to any of this session's files, or null. */
  get writeFailure(): WriteFailure | null {
    const f = this.failures.first;
    return f ? { file: f.file, code: f.code, errno: f.errno, message: f.message } : null;
  }

  get id(): string {
    return this.init.candidateId;
  }

  /** Bytes handed to the recorder but not yet in the kernel. */
  get recorderBacklog(): number {
    return this.writer.pendingBytes;
  }

  get recorderError(): RecordingWriteError | null {
    return this.writer.failed;
  }

  /** Resolves when the recorder's queue is empty again (used to pause reading from a fast client). */
  recorderDrained(): Promise<void> {
    return this.writer.drained();
  }

  get ageMs(): number {
    return performance.now() - this.startedMono;
  }

  /** A JPEG, or an H.264 access unit (previews of H.264 come from its snapshots, see media-intake-v2.ts). */
  recordVideo(timestampMs: number, frame: Buffer, keyframe = true): void {
    this.framesReceived++;
    if (this.init.video?.codec === 'jpeg') this.latestFrame = { jpeg: frame, timestampMs };
    this.videoRate.add(1);
    this.writer.writeVideo(timestampMs, frame, this.frameMs, keyframe);
  }

  /** The codec configuration of each compressed track as last written to the recording, and its listeners. */
  readonly codecConfig: { video: Buffer | null; audio: Buffer | null } = { video: null, audio: null };
  readonly opusListeners = new Set<(timestampMs: number, packet: Buffer, samples: number) => void>();

  configure(track: 'video' | 'audio', data: Buffer, codecDelayNs: number | null): void {
    this.codecConfig[track] = data;
    this.writer.setCodecPrivate(track, data, codecDelayNs);
  }

  recordOpus(timestampMs: number, packet: Buffer, samples: number): void {
    this.audioChunksReceived++;
    this.audioRate.add(packet.length);
    this.writer.writeOpus(timestampMs, packet, samples);
    for (const l of this.opusListeners) l(timestampMs, packet, samples);
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
      write_error: this.writeFailure,
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
    const { lines, cues } = timelineText(events);
    this.incidentCount += events.filter((e) => e.type === 'open').length;
    const n = events.length;
    const write = async (): Promise<void> => {
      await appendTo(path.join(this.dir, INCIDENTS_FILE), lines, `${n} incident line(s)`).catch((err: RecordingWriteError) => this.failures.add(err));
      if (cues) await appendTo(path.join(this.dir, SUBTITLES_FILE), cues, 'incident cue(s)').catch((err: RecordingWriteError) => this.failures.add(err));
    };
    this.incidentChain = this.incidentChain.then(write);
  }

  private record(endedAt: Date | null, how: string): SessionRecord {
    const { init, startedAt, writer, failures, bytesIn, framesReceived, audioChunksReceived, audioSeconds, incidentCount, subtitleTrack, subtitleError } = this;
    return sessionRecord({ init, startedAt, writer, failures, bytesIn, framesReceived, audioChunksReceived, audioSeconds, incidentCount, subtitleTrack, subtitleError }, endedAt, how);
  }

  /**
   * Atomic replace, so a reader (or a crash) never sees half a session.json. Writes are chained so a periodic
   * refresh can never land after, and overwrite, the final record. A failed write is recorded as a failure
   * (and so reported) and rejects with it; the record that could not be written is still what this session is.
   */
  private writeRecord(endedAt: Date | null, ended: string): Promise<SessionRecord> {
    const write = async (): Promise<SessionRecord> => {
      const rec = this.record(endedAt, ended);
      try {
        await replaceFile(path.join(this.dir, SESSION_FILE), JSON.stringify(rec, null, 2) + '\n');
      } catch (err) {
        this.failures.add(err as RecordingWriteError);
        throw err;
      }
      return rec;
    };
    const next = this.recordChain.then(write, write);
    this.recordChain = next.catch(() => undefined);
    return next;
  }

  /** Writes session.json as it stands now; a failure is already recorded and reported, so the record is returned. */
  private async settleRecord(): Promise<SessionRecord> {
    const { at, how } = this.ended!;
    // A failure while writing adds itself to the record: write once more so the file on disk says so.
    for (let attempt = 0; attempt < 2; attempt++) {
      const before = this.failures.records.length;
      try {
        return await this.writeRecord(at, how);
      } catch {
        if (this.failures.records.length === before) break;
      }
    }
    return this.record(at, how);
  }

  /**
   * Finalises the recording and closes session.json with how the session ended. Idempotent. Write failures do
   * not reject: they were reported through `onWriteFailure`, and the record returned (and, if the disk allows,
   * written) says `ended: "recording_failed"` with what was lost.
   */
  finish(ended: string): Promise<SessionRecord> {
    this.finishing ??= (async () => {
      if (this.refreshTimer) clearInterval(this.refreshTimer);
      // An incident still open ends where the media received ends (written or not: the timeline is the session's).
      this.recordIncidents(this.tracker.finish(Math.max(this.writer.acceptedEndS, 0)));
      // Speech still open ends where the audio ends, which may be well before the video does.
      this.recordIncidents(this.speechTracker.finish(this.audioEndS));
      await this.incidentChain;
      try {
        await this.writer.finalize();
      } catch (err) {
        // Cutting a failed file back to its last whole block failed too: keep that on the record.
        this.failures.add(new RecordingWriteError(path.join(this.dir, RECORDING_FILE), err, null, 'a torn last block may remain at the end of the file'));
      }
      this.ended = { at: new Date(), how: ended };
      return this.settleRecord();
    })();
    return this.finishing;
  }

  /** True once any write to this session's files failed. */
  get failed(): boolean {
    return this.failures.any;
  }

  /**
   * The sentence the candidate's final BYE carries: what the recording really holds, never what was received.
   * Counts are final only after finish().
   */
  receipt(): string {
    const counts = this.writer.counts;
    const held = `${counts.videoFrames} video frames and ${this.audioSeconds.toFixed(2)} s of audio`;
    const first = this.failures.first;
    if (!first) return `recorded ${held}`;
    const lost = this.writer.notWritten;
    const lostS = this.init.audio ? lost.audioSamples / this.init.audio.sampleRate : 0;
    return `recording FAILED (${first.message}): only ${held} were recorded; ${lost.videoFrames} video frames and ${lostS.toFixed(2)} s of audio were lost`;
  }

  /**
   * After finish(): muxes the incidents into the recording as a subtitle track. Kept apart from finish() because
   * it rewrites the whole file, which for a long session takes longer than a candidate should wait for its BYE.
   * Resolves true when a track was added.
   */
  async addSubtitles(): Promise<boolean> {
    await this.finishing;
    if (!this.ended || this.incidentCount === 0 || this.writer.failed || this.subtitleTrack) return false;
    const mkv = path.join(this.dir, RECORDING_FILE);
    try {
      await muxSubtitles(mkv, path.join(this.dir, SUBTITLES_FILE), { title: 'vigil incidents' });
      this.subtitleTrack = true;
    } catch (err) {
      this.subtitleError = (err as Error).message;
      this.failures.add(new RecordingWriteError(mkv, err, null, 'the incident subtitle track (the recording is unchanged; incidents.vtt holds the cues)'));
    }
    await this.settleRecord();
    return this.subtitleTrack;
  }
}
