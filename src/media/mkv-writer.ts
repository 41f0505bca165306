import * as E from './ebml';
import { FileSink } from './file-sink';
import { buildTracks, codecPrivatePatch, type MkvAudioTrack, type MkvVideoTrack } from './mkv-tracks';
import type { RecordingWriteError } from './write-error';

/*
 * A Matroska muxer written by hand, on purpose. The recording must keep each JPEG exactly as it arrived and time
 * it by the client's capture timestamp. ffmpeg reading JPEGs from a pipe (image2pipe/mjpeg) stamps frames at a
 * constant rate and cannot take per-frame times, and the maintained JavaScript muxers (mediabunny, webm-muxer)
 * write only WebCodecs video codecs, not V_MJPEG. The subset needed here is small: a header, one track per
 * medium, SimpleBlocks in clusters, and Cues.
 *
 * Crash safety: the Segment and the open Cluster are written with "unknown" size and every block goes to the
 * kernel as it arrives, so a file cut off at any byte is readable up to its last complete block (ffmpeg, mpv
 * and VLC all read live Matroska this way). A cluster's size is patched in when the next one starts, and
 * finalize() adds Cues, a SeekHead, the Duration and the Segment size.
 */

const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekID: 0x53ab,
  SeekPosition: 0x53ac,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  DateUTC: 0x4461,
  Title: 0x7ba9,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
} as const;

/** Longest span of one cluster: keeps what a crash can cost, and seeking granularity, at one second. */
export const MAX_CLUSTER_MS = 1000;
const SEEKHEAD_RESERVE = 96;
const DURATION_RESERVE = 11; // Duration element: 2 bytes ID + 1 byte size + 8 bytes float
const MATROSKA_EPOCH_MS = Date.UTC(2001, 0, 1);

export type { MkvAudioTrack, MkvVideoTrack } from './mkv-tracks';

export interface MkvWriterOptions {
  video: MkvVideoTrack | null;
  audio: MkvAudioTrack | null;
  title: string;
  startedAt: Date;
  writingApp: string;
}

export interface MkvStats {
  videoFrames: number;
  /** Audio blocks (one per chunk the writer was given). */
  audioChunks: number;
  audioSamples: number;
  /** Media payload bytes (JPEG and PCM), without the container's framing. */
  bytes: number;
}

/** One block handed to the sink, counted as written once the sink's written bytes pass its end. */
interface PendingBlock {
  end: number;
  videoFrames: number;
  audioChunks: number;
  audioSamples: number;
  bytes: number;
  endMs: number;
}

/**
 * A SimpleBlock's element ID, size and block header in one buffer, written byte by byte: it is built for every
 * frame and audio chunk, where assembling it from E.* pieces cost four small buffers and a concat each time.
 */
function simpleBlockHead(track: number, rel: number, keyframe: boolean, dataLength: number): Buffer {
  const sizeLength = E.vintLength(4 + dataLength);
  const head = Buffer.allocUnsafe(1 + sizeLength + 4);
  head[0] = ID.SimpleBlock;
  E.writeSize(head, 1, 4 + dataLength, sizeLength);
  let at = 1 + sizeLength;
  head[at++] = 0x80 | track; // track number as a 1-byte vint
  head.writeInt16BE(rel, at);
  head[at + 2] = keyframe ? 0x80 : 0; // every JPEG, PCM chunk and Opus packet stands alone; an H.264 frame may not
  return head;
}

export class MkvWriter {
  readonly videoTrack: number;
  readonly audioTrack: number;
  private segmentDataStart = 0;
  private segmentSizePos = 0;
  private seekHeadPos = 0;
  private durationPos = 0;
  private infoPos = 0;
  private tracksPos = 0;
  private clusterTs = -1;
  private clusterPos = -1;
  private cues: Array<{ ts: number; pos: number }> = [];
  private endMs = 0;
  private finalized = false;
  /*
   * "Written" means handed to a write() that returned successfully: the bytes are in the kernel, so they
   * survive this process dying, and a reader of the file sees them. (Not fsync'd: a power cut can still take
   * the last seconds; finalize() syncs.) `written` counts only whole blocks inside that range; `accepted`
   * counts every block given to the writer, so accepted - written is what is in flight or, after a failure,
   * lost.
   */
  private readonly written: MkvStats = { videoFrames: 0, audioChunks: 0, audioSamples: 0, bytes: 0 };
  private readonly accepted: MkvStats = { videoFrames: 0, audioChunks: 0, audioSamples: 0, bytes: 0 };
  private writtenEndMs = 0;
  /** End of the last whole block in the file: where a file torn by a failed write is cut back to. */
  private writtenBlockEnd = 0;
  private pending: PendingBlock[] = [];
  private pendingHead = 0;
  /** File offsets of the reserved CodecPrivate space of compressed tracks (-1: none). */
  private reserveAt = { video: -1, audio: -1 };
  /** H.264: clusters start at keyframes and only those clusters are cued, so every seek lands on an IDR. */
  private readonly keyframeCues: boolean;
  private clustered = false;

  private constructor(
    private readonly sink: FileSink,
    private readonly opts: MkvWriterOptions,
  ) {
    this.videoTrack = opts.video ? 1 : 0;
    this.audioTrack = opts.audio ? (opts.video ? 2 : 1) : 0;
    this.keyframeCues = opts.video?.codec === 'h264';
  }

  /**
   * Opens the file and queues the header. A write failure, now or later, is reported once through `onFailure`;
   * from then on blocks are counted as lost, not written. Call `flushed()` to learn that the header is on disk.
   */
  static async create(path: string, opts: MkvWriterOptions, onFailure?: (err: RecordingWriteError) => void): Promise<MkvWriter> {
    if (!opts.video && !opts.audio) throw new Error('a recording needs a video or an audio track');
    const w = new MkvWriter(await FileSink.create(path, onFailure), opts);
    w.writeHeader();
    w.writtenBlockEnd = w.sink.offset;
    return w;
  }

  /** Resolves once everything queued is in the kernel; rejects with the write failure if there was one. */
  flushed(): Promise<void> {
    return this.sink.flush();
  }

  /** Closes the file without finalising it (for a recording abandoned before its first block). */
  async abandon(): Promise<void> {
    this.finalized = true;
    await this.sink.close();
  }

  get pendingBytes(): number {
    return this.sink.pendingBytes;
  }

  get failed(): RecordingWriteError | null {
    return this.sink.failed;
  }

  /** Resolves once every block written so far is in the kernel (or the file has failed; see `failed`). */
  drained(): Promise<void> {
    return this.sink.flush().catch(() => undefined);
  }

  /** End of the last block written, in seconds of the recording's timeline. */
  get endS(): number {
    this.settle();
    return this.writtenEndMs / 1000;
  }

  /** End of the last block given to the writer (written or not), in seconds of the recording's timeline. */
  get acceptedEndS(): number {
    return this.endMs / 1000;
  }

  /** What is in the file: whole blocks whose bytes the kernel accepted. */
  get counts(): Readonly<MkvStats> {
    this.settle();
    return this.written;
  }

  /** What was given to the writer but is not (yet, or after a failure: ever) in the file. */
  get notWritten(): Readonly<MkvStats> {
    this.settle();
    return {
      videoFrames: this.accepted.videoFrames - this.written.videoFrames,
      audioChunks: this.accepted.audioChunks - this.written.audioChunks,
      audioSamples: this.accepted.audioSamples - this.written.audioSamples,
      bytes: this.accepted.bytes - this.written.bytes,
    };
  }

  /** Moves blocks the sink has written from pending to written. */
  private settle(): void {
    const through = this.sink.writtenBytes;
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.end <= through) {
      const b = this.pending[this.pendingHead++]!;
      this.written.videoFrames += b.videoFrames;
      this.written.audioChunks += b.audioChunks;
      this.written.audioSamples += b.audioSamples;
      this.written.bytes += b.bytes;
      this.writtenEndMs = Math.max(this.writtenEndMs, b.endMs);
      this.writtenBlockEnd = b.end;
    }
    if (this.sink.failed && this.pendingHead < this.pending.length) {
      // Nothing more will reach the file: drop the bookkeeping (accepted keeps what was lost).
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  private writeHeader(): void {
    const s = this.sink;
    s.append(
      E.master(ID.EBML, [
        E.uint(ID.EBMLVersion, 1),
        E.uint(ID.EBMLReadVersion, 1),
        E.uint(ID.EBMLMaxIDLength, 4),
        E.uint(ID.EBMLMaxSizeLength, 8),
        E.string(ID.DocType, 'matroska'),
        E.uint(ID.DocTypeVersion, 4),
        E.uint(ID.DocTypeReadVersion, 2),
      ]),
    );
    s.append(E.idBytes(ID.Segment));
    this.segmentSizePos = s.append(E.UNKNOWN_SIZE);
    this.segmentDataStart = s.offset;
    this.seekHeadPos = s.append(E.voidElement(SEEKHEAD_RESERVE));

    const dateNs = BigInt(this.opts.startedAt.getTime() - MATROSKA_EPOCH_MS) * 1_000_000n;
    const infoChildren = [
      E.uint(ID.TimestampScale, 1_000_000), // block times in milliseconds
      E.int64(ID.DateUTC, dateNs),
      E.string(ID.Title, this.opts.title),
      E.string(ID.MuxingApp, this.opts.writingApp),
      E.string(ID.WritingApp, this.opts.writingApp),
    ];
    const infoBody = Buffer.concat(infoChildren);
    // Reserve room for Duration inside Info; a file cut off before finalize simply has no Duration.
    const info = E.master(ID.Info, [infoBody, E.voidElement(DURATION_RESERVE)]);
    this.infoPos = s.append(info);
    this.durationPos = this.infoPos + info.length - DURATION_RESERVE;

    const built = buildTracks(this.opts.video, this.videoTrack, this.opts.audio, this.audioTrack);
    this.tracksPos = s.append(built.element);
    const at = (o: number | null): number => (o === null ? -1 : this.tracksPos + o);
    this.reserveAt = { video: at(built.reserveAt.video), audio: at(built.reserveAt.audio) };
  }

  /**
   * Writes a compressed track's CodecPrivate (avcC, OpusHead) into the space the header reserved for it, and
   * for Opus the CodecDelay (its pre-skip). Call before the track's first block; a later call rewrites it.
   */
  setCodecPrivate(kind: 'video' | 'audio', data: Buffer, codecDelayNs: number | null = null): void {
    const at = this.reserveAt[kind];
    if (at < 0) throw new Error(`this recording's ${kind} track takes no codec configuration`);
    if (this.finalized) throw new Error('recording already finalized');
    this.sink.patch(at, codecPrivatePatch(data, codecDelayNs));
  }

  /** Starts a new cluster when none is open, the open one would exceed MAX_CLUSTER_MS, or an H.264 IDR begins. */
  private clusterFor(ts: number, startsCue: boolean): number {
    if (this.clusterPos >= 0 && !startsCue && ts - this.clusterTs < MAX_CLUSTER_MS && ts - this.clusterTs >= -30_000) {
      return ts - this.clusterTs;
    }
    this.closeCluster();
    const s = this.sink;
    this.clusterPos = s.append(E.idBytes(ID.Cluster));
    s.append(E.UNKNOWN_SIZE);
    s.append(E.uint(ID.Timestamp, ts));
    this.clusterTs = ts;
    this.clustered = true;
    if (startsCue || !this.keyframeCues) this.cues.push({ ts, pos: this.clusterPos - this.segmentDataStart });
    return 0;
  }

  private closeCluster(): void {
    if (this.clusterPos < 0) return;
    const sizePos = this.clusterPos + 4;
    this.sink.patch(sizePos, E.fixedSize(this.sink.offset - sizePos - 8, 8));
    this.clusterPos = -1;
  }

  private block(track: number, tsMs: number, data: Buffer, videoFrames: number, audioSamples: number, endMs: number, keyframe = true): void {
    if (this.finalized) throw new Error('recording already finalized');
    this.accepted.videoFrames += videoFrames;
    const audioChunks = audioSamples > 0 ? 1 : 0;
    this.accepted.audioChunks += audioChunks;
    this.accepted.audioSamples += audioSamples;
    this.accepted.bytes += data.length;
    this.endMs = Math.max(this.endMs, endMs);
    // After a failure the sink drops everything; the block only counts as not written.
    if (this.sink.failed) return;
    const ts = Math.max(0, Math.round(tsMs));
    const rel = this.clusterFor(ts, this.keyframeCues && track === this.videoTrack && keyframe);
    this.sink.append(simpleBlockHead(track, rel, keyframe, data.length));
    this.sink.append(data);
    this.pending.push({ end: this.sink.offset, videoFrames, audioChunks, audioSamples, bytes: data.length, endMs });
    this.settle();
  }

  /** One JPEG, or one H.264 access unit (length-prefixed NALs) with whether it is an IDR. */
  writeVideo(tsMs: number, frame: Buffer, frameDurationMs: number, keyframe = true): void {
    if (!this.videoTrack) throw new Error('this recording has no video track');
    this.block(this.videoTrack, tsMs, frame, 1, 0, tsMs + frameDurationMs, keyframe);
  }

  /** One Opus packet lasting `samples` at 48 kHz. */
  writeOpus(tsMs: number, packet: Buffer, samples: number): void {
    if (this.opts.audio?.codec !== 'opus') throw new Error('this recording has no Opus track');
    this.block(this.audioTrack, tsMs, packet, 0, samples, tsMs + samples / 48);
  }

  writeAudio(tsMs: number, pcm: Buffer): void {
    if (!this.audioTrack || !this.opts.audio) throw new Error('this recording has no audio track');
    if (this.opts.audio.codec === 'opus') throw new Error('an Opus track takes packets (writeOpus), not PCM');
    const samples = pcm.length / 2 / this.opts.audio.channels;
    this.block(this.audioTrack, tsMs, pcm, 0, samples, tsMs + (samples * 1000) / this.opts.audio.sampleRate);
  }

  /**
   * Writes Cues, SeekHead, Duration and sizes, then syncs and closes. Idempotent. After a write failure it
   * instead cuts the file back to its last whole block, so what the file holds is exactly what `counts` says
   * (a player reads it like a recording cut off by a crash). Write failures go to `onFailure`, not thrown.
   */
  async finalize(): Promise<void> {
    if (this.finalized) return;
    this.finalized = true;
    const s = this.sink;
    // Everything queued must land (or fail) before deciding between the two endings.
    await s.flush().catch(() => undefined);
    if (!s.failed) {
      // ffmpeg cannot open a Matroska file without a Cluster: a recording that got no media still gets an empty one.
      if (this.cues.length === 0 && this.clusterPos < 0 && !this.clustered) this.clusterFor(0, false);
      this.closeCluster();
      // With H.264, only clusters that open with an IDR are cued, and those on the video track.
      const cueTrack = this.videoTrack || this.audioTrack;
      const cuesPos = s.append(
        E.master(
          ID.Cues,
          this.cues.map((c) =>
            E.master(ID.CuePoint, [
              E.uint(ID.CueTime, c.ts),
              E.master(ID.CueTrackPositions, [E.uint(ID.CueTrack, cueTrack), E.uint(ID.CueClusterPosition, c.pos)]),
            ]),
          ),
        ),
      );
      const seek = (id: number, pos: number): Buffer =>
        E.master(ID.Seek, [E.binary(ID.SeekID, E.idBytes(id)), E.uint64(ID.SeekPosition, pos - this.segmentDataStart)]);
      const seekHead = E.master(ID.SeekHead, [seek(ID.Info, this.infoPos), seek(ID.Tracks, this.tracksPos), seek(ID.Cues, cuesPos)]);
      s.patch(this.seekHeadPos, Buffer.concat([seekHead, E.voidElement(SEEKHEAD_RESERVE - seekHead.length)]));
      s.patch(this.durationPos, E.float64(ID.Duration, this.endMs));
      s.patch(this.segmentSizePos, E.fixedSize(s.offset - this.segmentDataStart, 8));
      await s.flush().catch(() => undefined);
    }
    try {
      if (s.failed) {
        this.settle();
        await s.truncate(this.writtenBlockEnd);
      }
    } finally {
      await s.close();
    }
  }
}
