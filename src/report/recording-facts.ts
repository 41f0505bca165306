// What a recording.mkv really holds, read with ffprobe. A finalised file (the server wrote its Duration and Cues)
// is trusted from its header: reading every packet of an hour of MJPEG is gigabytes. A file without a duration
// was cut off mid-write (a crash, a full disk, a copy taken while recording) and is read packet by packet, which
// is also what a player can reach in it.
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';

export interface RecordingFacts {
  /** The writer finished it: the container states its duration. */
  finalised: boolean;
  /** The container's duration, or the end of the last packet read. */
  durationS: number;
  /** How far a player gets: the end of the last packet read, or durationS when the file was not read through. */
  playableS: number;
  hasVideo: boolean;
  hasAudio: boolean;
  hasSubtitles: boolean;
  /** Counted packet by packet; null when the file was trusted from its header. */
  videoFrames: number | null;
  audioEndS: number | null;
  videoEndS: number | null;
  /** What ffprobe complained about while reading packets (first line), or null. */
  readWarning: string | null;
}

export class RecordingUnreadable extends Error {
  readonly code = 'VIGIL_ERR_RECORDING_UNREADABLE';
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  missing: boolean;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr, missing: e?.code === 'ENOENT' });
    });
  });
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function recordingFacts(file: string, opts: { scanPackets?: boolean; timeoutMs?: number } = {}): Promise<RecordingFacts> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const head = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], timeoutMs);
  if (head.missing) throw new RecordingUnreadable('ffprobe is not installed (install ffmpeg: `make` does)');
  let info: unknown;
  try {
    info = JSON.parse(head.stdout);
  } catch {
    info = null;
  }
  if (head.code !== 0 || !isObj(info)) throw new RecordingUnreadable(cleanFfmpegLine(firstLine(head.stderr)) ?? `ffprobe exited ${head.code}`);
  const streams = Array.isArray(info['streams']) ? (info['streams'] as unknown[]).filter(isObj) : [];
  const format = isObj(info['format']) ? info['format'] : {};
  const kindOf = new Map<number, string>();
  for (const s of streams) if (typeof s['index'] === 'number' && typeof s['codec_type'] === 'string') kindOf.set(s['index'], s['codec_type']);
  const kinds = [...kindOf.values()];
  const duration = Number(format['duration']);
  const finalised = Number.isFinite(duration) && duration > 0;
  const facts: RecordingFacts = {
    finalised,
    durationS: finalised ? duration : 0,
    playableS: finalised ? duration : 0,
    hasVideo: kinds.includes('video'),
    hasAudio: kinds.includes('audio'),
    hasSubtitles: kinds.includes('subtitle'),
    videoFrames: null,
    audioEndS: null,
    videoEndS: null,
    readWarning: null,
  };
  if (finalised && !opts.scanPackets) return facts;

  const scan = await run('ffprobe', ['-v', 'error', '-show_entries', 'packet=stream_index,pts_time,duration_time', '-of', 'csv=p=0', file], timeoutMs);
  if (scan.code !== 0 && scan.stdout.trim() === '') throw new RecordingUnreadable(cleanFfmpegLine(firstLine(scan.stderr)) ?? `ffprobe exited ${scan.code} reading packets`);
  let frames = 0;
  let videoEnd = 0;
  let audioEnd = 0;
  for (const line of scan.stdout.split('\n')) {
    const [idx, pts, dur] = line.split(',');
    const t = Number(pts);
    if (!idx || !Number.isFinite(t)) continue;
    const end = t + (Number.isFinite(Number(dur)) ? Number(dur) : 0);
    const kind = kindOf.get(Number(idx));
    if (kind === 'video') {
      frames++;
      videoEnd = Math.max(videoEnd, end);
    } else if (kind === 'audio') {
      audioEnd = Math.max(audioEnd, end);
    }
  }
  facts.videoFrames = frames;
  facts.videoEndS = facts.hasVideo ? videoEnd : null;
  facts.audioEndS = facts.hasAudio ? audioEnd : null;
  facts.playableS = Math.max(videoEnd, audioEnd);
  if (!finalised) facts.durationS = facts.playableS;
  facts.readWarning = cleanFfmpegLine(firstLine(scan.stderr));
  return facts;
}

/** Drops ffmpeg's "[matroska,webm @ 0x55...]" prefix: an address means nothing to a reader. */
export function cleanFfmpegLine(line: string | null): string | null {
  return line === null ? null : line.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '');
}

function firstLine(s: string): string | null {
  const line = s.split('\n').map((l) => l.trim()).find(Boolean);
  return line ?? null;
}

/** How the file's length compares with the Segment size its header declares (Matroska: EBML header, then Segment). */
export type SegmentCheck =
  | { state: 'complete'; bytes: number }
  /** The Segment's size was never written: the writer did not finish (unknown-size live file). */
  | { state: 'open'; bytes: number }
  | { state: 'short'; bytes: number; expected: number }
  | { state: 'not_matroska'; bytes: number };

const EBML_ID = 0x1a45dfa3;
const SEGMENT_ID = 0x18538067;

/** An EBML variable-length integer at `at`: its length and value (null value: all ones, "unknown size"). */
function vint(buf: Buffer, at: number, keepMarker: boolean): { len: number; value: number | null } | null {
  const first = buf[at];
  if (first === undefined || first === 0) return null;
  const len = Math.clz32(first) - 23;
  if (at + len > buf.length) return null;
  let value = keepMarker ? first : first & (0xff >> len);
  let allOnes = value === 0xff >> len;
  for (let i = 1; i < len; i++) {
    const b = buf[at + i]!;
    value = value * 256 + b;
    if (b !== 0xff) allOnes = false;
  }
  return { len, value: !keepMarker && allOnes ? null : value };
}

/** Reads the first bytes of a file to tell a complete recording from one cut short; cheap at any file size. */
export async function checkSegment(file: string): Promise<SegmentCheck> {
  const fh = await open(file, 'r');
  try {
    const bytes = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.min(bytes, 4096));
    await fh.read(buf, 0, buf.length, 0);
    const id = vint(buf, 0, true);
    const size = id && id.value === EBML_ID ? vint(buf, id.len, false) : null;
    if (!id || !size || size.value === null) return { state: 'not_matroska', bytes };
    const segAt = id.len + size.len + size.value;
    const segId = vint(buf, segAt, true);
    const segSize = segId && segId.value === SEGMENT_ID ? vint(buf, segAt + segId.len, false) : null;
    if (!segId || !segSize) return { state: 'not_matroska', bytes };
    if (segSize.value === null) return { state: 'open', bytes };
    const expected = segAt + segId.len + segSize.len + segSize.value;
    return bytes < expected ? { state: 'short', bytes, expected } : { state: 'complete', bytes };
  } finally {
    await fh.close();
  }
}
