import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { IncidentIds, IncidentTracker, type IncidentEvent } from '../detect/incidents';
import { IncidentLedger } from './incident-ledger';
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
import { SessionCodecs } from './session-codecs';
import { SessionRecordFile } from './session-record-file';
import { receiptText } from './session-receipt';
import { DisconnectGap } from './disconnect-gap';
import { IncidentFiles } from './incident-files';
import { SpeechWatch } from './speech-watch';
import { round, sessionRecord } from './session-record';
import { NO_CARRY, partDirName, seedLedger, type Carried, type SessionPart } from './session-part';
import { INCIDENTS_FILE, RECORDING_FILE, SESSION_FILE, SUBTITLES_FILE, WriteFailures, createFile, type SessionRecord } from './session-files';

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
  /** In a cluster: which part of the session this is and what earlier parts hold. Absent on a lone server. */
  part?: SessionPart;
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
  private readonly startedMono: number;
  private readonly videoRate = new RateWindow();
  private readonly audioRate = new RateWindow();
  private readonly frameMs: number;
  /** Every failed write to this session's files; the owner listens through `onWriteFailure`. */
  private readonly failures = new WriteFailures();
  private finishing: Promise<SessionRecord> | null = null;
  private readonly tracker: IncidentTracker;
  /** Voice activity, the `speech` incidents and where the audio received so far ends. */
  private readonly speechWatch: SpeechWatch;
  /** session.json: chained writes and the periodic refresh. */
  private readonly recordFile: SessionRecordFile;
  /** Listeners of the live audio (`vigil listen`), called with every chunk as it arrives. */
  readonly audioListeners = new Set<(timestampMs: number, pcm: Buffer) => void>();
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
  private readonly gap = new DisconnectGap();
  /** incidents.jsonl and incidents.vtt, appended in order. */
  private readonly incidentFiles: IncidentFiles;
  /** What earlier parts of this session hold (nothing for a first part). */
  readonly carried: Carried;
  /** Incident seconds and the closed incidents, for the admin stream. */
  readonly incidentLog = new IncidentLedger();

  private constructor(
    readonly init: SessionInit,
    readonly dir: string,
    private readonly writer: MkvWriter,
  ) {
    this.frameMs = init.video && init.video.fps > 0 ? 1000 / init.video.fps : 0;
    // A continued part keeps the session's clock, so the candidate's timestamps go on where they were.
    this.startedMono = performance.now() - (init.part?.clockMs ?? 0);
    this.carried = init.part?.carried ?? NO_CARRY;
    if (init.part?.carried) {
      seedLedger(this.ledger, init.part.carried);
      this.lastVideoSeq = init.part.carried.video.last_seq;
      this.lastAudioSeq = init.part.carried.audio.last_seq;
      this.lastVideoTs = init.part.carried.video.last_ts;
      this.lastAudioTs = init.part.carried.audio.last_ts;
    }
    const ids = new IncidentIds();
    this.tracker = new IncidentTracker(init.incidentAfterS, ids);
    this.speechWatch = new SpeechWatch(init.audio, init.speechAfterS, ids);
    this.codecs = new SessionCodecs(init.audio?.codec === 'opus' ? (ts, pcm) => this.speech(ts, pcm, 16000, 1) : null);
    this.incidentFiles = new IncidentFiles(dir, this.failures);
    this.recordFile = new SessionRecordFile(path.join(dir, SESSION_FILE), this.failures, (endedAt, how) => this.record(endedAt, how));
  }

  /**
   * Creates the session's folder and files and writes the Matroska header and a first session.json, all of
   * which must reach the disk before the candidate is welcomed. If any step fails, what was opened is closed
   * (the file handle; the refresh timer is only started on success) and the error is thrown.
   */
  static async open(init: SessionInit): Promise<Session> {
    const dir = sessionDir(init.recordDir, init.candidateId, partDirName(init.sessionId, init.part?.n ?? 1));
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
      await session.recordFile.write(null, 'in_progress');
    } catch (err) {
      await writer.abandon().catch(() => undefined);
      throw early[0] ?? err;
    }
    session.recordFile.startRefresh(SESSION_FILE_REFRESH_MS);
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

  /** Codec configurations as recorded, Opus listeners and Opus speech decoding (session-codecs.ts). */
  readonly codecs: SessionCodecs;
  configure(track: 'video' | 'audio', data: Buffer, codecDelayNs: number | null): void {
    this.writer.setCodecPrivate(track, data, codecDelayNs);
    this.codecs.configured(track, data);
  }

  recordOpus(timestampMs: number, packet: Buffer, samples: number): void {
    this.audioChunksReceived++;
    this.audioRate.add(packet.length);
    this.writer.writeOpus(timestampMs, packet, samples);
    this.codecs.packet(timestampMs, packet, samples);
  }

  /** Records one chunk and runs voice activity over it; returns the speech incidents it opened or closed. */
  recordAudio(timestampMs: number, pcm: Buffer): IncidentEvent[] {
    this.audioChunksReceived++;
    this.audioRate.add(pcm.length);
    this.writer.writeAudio(timestampMs, pcm);
    for (const l of this.audioListeners) l(timestampMs, pcm);
    return this.speech(timestampMs, pcm, this.init.audio!.sampleRate, this.init.audio!.channels);
  }

  /** Voice activity over PCM; returns the speech incidents it opened or closed. */
  private speech(timestampMs: number, pcm: Buffer, rate: number, channels: number): IncidentEvent[] {
    return this.recordIncidents(this.speechWatch.push(timestampMs, pcm, rate, channels));
  }

  /** True while the candidate is talking (voice activity, after its hangover). */
  get speaking(): boolean {
    return this.speechWatch.speaking;
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
      incident: this.tracker.open?.kind ?? this.speechWatch.open?.kind ?? (this.gap.startS !== null ? 'disconnected' : null),
      speech: this.speechWatch.speaking,
      incidents: this.incidentCount,
      incident_s: this.incidentSeconds(age),
      declared_fps: this.init.video?.fps ?? null,
      write_error: this.writeFailure,
      ...this.analysis.figures(age),
    };
  }

  private incidentSeconds(ageMs: number): number {
    const open: Array<{ start_s: number; now_s: number }> = [];
    const face = this.tracker.open;
    if (face) open.push({ start_s: face.start_s, now_s: (this.latestFrame?.timestampMs ?? 0) / 1000 });
    const speech = this.speechWatch.open;
    if (speech) open.push({ start_s: speech.start_s, now_s: this.speechWatch.endS });
    const gapS = this.gap.startS;
    if (gapS !== null) open.push({ start_s: gapS, now_s: ageMs / 1000 });
    return this.incidentLog.seconds(open);
  }

  /** The candidate's connection is gone: a `disconnected` incident opens at the session clock's now. */
  openGap(startS = this.ageMs / 1000): IncidentEvent[] {
    return this.recordIncidents(this.gap.open(() => this.tracker.allocateId(), startS));
  }

  /** The candidate is back (or the resume window ran out): the `disconnected` incident closes now. */
  closeGap(): IncidentEvent[] {
    return this.recordIncidents(this.gap.close(this.ageMs / 1000));
  }

  /** Takes one frame's verdict: updates the live face status and the incident timeline. */
  applyAnalysis(result: FrameAnalysis, timestampMs: number): IncidentEvent[] {
    this.lastAnalysis = result;
    this.face = result.verdict;
    this.faces = result.faces.length;
    return this.recordIncidents(this.tracker.update(timestampMs / 1000, result.verdict, result.confidence));
  }

  /** Counts the incidents, keeps them for the admin stream and appends them to the timeline files; returns them. */
  private recordIncidents(events: IncidentEvent[]): IncidentEvent[] {
    if (events.length === 0) return events;
    this.incidentCount += events.filter((e) => e.type === 'open').length;
    this.incidentLog.add(events);
    this.incidentFiles.append(events);
    return events;
  }

  private record(endedAt: Date | null, how: string): SessionRecord {
    const { init, startedAt, writer, failures, bytesIn, framesReceived, audioChunksReceived, audioSeconds, incidentCount, subtitleTrack, subtitleError } = this;
    return sessionRecord({ init, startedAt, writer, failures, bytesIn, framesReceived, audioChunksReceived, audioSeconds, incidentCount, subtitleTrack, subtitleError }, endedAt, how);
  }

  /**
   * Finalises the recording and closes session.json with how the session ended. Idempotent. Write failures do
   * not reject: they were reported through `onWriteFailure`, and the record returned (and, if the disk allows,
   * written) says `ended: "recording_failed"` with what was lost.
   */
  finish(ended: string): Promise<SessionRecord> {
    this.finishing ??= (async () => {
      this.recordFile.stopRefresh();
      await this.codecs.close();
      // An incident still open ends where the media received ends (written or not: the timeline is the session's).
      this.recordIncidents(this.tracker.finish(Math.max(this.writer.acceptedEndS, 0)));
      // Speech still open ends where the audio ends, which may be well before the video does.
      this.recordIncidents(this.speechWatch.finish());
      await this.incidentFiles.written();
      try {
        await this.writer.finalize();
      } catch (err) {
        // Cutting a failed file back to its last whole block failed too: keep that on the record.
        this.failures.add(new RecordingWriteError(path.join(this.dir, RECORDING_FILE), err, null, 'a torn last block may remain at the end of the file'));
      }
      this.ended = { at: new Date(), how: ended };
      return this.recordFile.settle(this.ended.at, this.ended.how);
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
    return receiptText(this.writer, this.init.audio, this.audioSeconds, this.carried, this.failures.first);
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
    await this.recordFile.settle(this.ended.at, this.ended.how);
    return this.subtitleTrack;
  }
}
