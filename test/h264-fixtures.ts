import { spawn } from 'node:child_process';
import { AnnexBSplitter, NAL, avcDecoderConfig, nalType, toLengthPrefixed, type AccessUnit } from '../src/media/h264';
import { OggOpusReader, type OpusHead } from '../src/media/ogg-opus';

/** Runs ffmpeg and feeds its stdout, in the odd-sized chunks a pipe delivers, to `onChunk`. */
function ffmpegStream(args: string[], onChunk: (b: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-v', 'error', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdout.on('data', onChunk);
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err}`))));
  });
}

export interface EncodedVideo {
  /** avcC from the first keyframe's SPS/PPS. */
  avcC: Buffer;
  /** Access units as the recorder stores them: length-prefixed, parameter sets and AUDs left out. */
  frames: Array<{ data: Buffer; keyframe: boolean }>;
  units: AccessUnit[];
}

/** `seconds` of a sample video through libx264 as the client encodes it (640x480, 15 fps, IDR every 2 s). */
export async function encodeH264(file: string, seconds: number, startS = 0): Promise<EncodedVideo> {
  const splitter = new AnnexBSplitter();
  const units: AccessUnit[] = [];
  await ffmpegStream(
    ['-ss', String(startS), '-t', String(seconds), '-i', file, '-an', '-vf', 'scale=640:480,fps=15', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0', '-g', '30', '-crf', '28', '-maxrate', '600k', '-bufsize', '600k', '-x264-params', 'aud=1', '-f', 'h264', '-'],
    (b) => units.push(...splitter.push(b)),
  );
  units.push(...splitter.end());
  const first = units[0]!;
  const avcC = avcDecoderConfig(first.nals.filter((n) => nalType(n) === NAL.sps), first.nals.filter((n) => nalType(n) === NAL.pps));
  const frames = units.map((u) => ({ data: toLengthPrefixed(u.nals.filter((n) => ![NAL.sps, NAL.pps, NAL.aud].includes(nalType(n) as 7))), keyframe: u.keyframe }));
  return { avcC, frames, units };
}

export interface EncodedOpus {
  head: OpusHead;
  headBytes: Buffer;
  packets: Array<{ data: Buffer; samples: number }>;
}

/** `seconds` of a WAV through libopus as the client encodes it (mono, 24 kbit/s, voip, 20 ms frames). */
export async function encodeOpus(file: string, seconds: number): Promise<EncodedOpus> {
  const reader = new OggOpusReader();
  let head: OpusHead | null = null;
  let headBytes: Buffer = Buffer.alloc(0);
  const packets: EncodedOpus['packets'] = [];
  await ffmpegStream(['-t', String(seconds), '-i', file, '-ac', '1', '-c:a', 'libopus', '-b:a', '24k', '-application', 'voip', '-frame_duration', '20', '-page_duration', '20000', '-f', 'ogg', '-'], (b) => {
    for (const item of reader.push(b)) {
      if (item.type === 'head') ({ head, bytes: headBytes } = item);
      else packets.push({ data: item.packet, samples: item.samples });
    }
  });
  if (!head) throw new Error('no OpusHead in the encoder output');
  return { head, headBytes, packets };
}

/** MD5 of every decoded picture of a file's video, in order: what a viewer sees, frame by frame. */
export async function pictureHashes(file: string, format: 'matroska' | 'h264' = 'matroska'): Promise<string[]> {
  const lines: string[] = [];
  let rest = '';
  // One thread: frame threading would hide nothing, but keeps the output order plain and the CPU share small.
  await ffmpegStream(['-threads', '1', '-f', format, '-i', file, '-map', '0:v', '-f', 'framemd5', '-'], (b) => {
    const parts = (rest + b.toString('latin1')).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
  });
  if (rest) lines.push(rest);
  return lines.filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').pop()!.trim());
}

/** The encoded units as one Annex B file, for a reference decode of the uninterrupted stream. */
export function annexB(units: AccessUnit[]): Buffer {
  return Buffer.concat(units.flatMap((u) => u.nals.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n])));
}

/**
 * What ffmpeg's H.264 decoder says, single-threaded at debug level, about frames it had to invent: a recording
 * that lost references shows "Frame num gap" (the decoder conceals it, so -xerror alone passes).
 */
export async function referenceGaps(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-v', 'debug', '-threads', '1', '-i', file, '-map', '0:v', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.once('error', reject);
    p.once('close', () => resolve(err.split('\n').filter((l) => /Frame num gap|[1-9]\d* decoding errors/.test(l))));
  });
}
