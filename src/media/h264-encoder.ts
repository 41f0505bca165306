import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { childCpuSeconds } from './child-cpu';
import { AnnexBSplitter, NAL, avcDecoderConfig, nalType, toLengthPrefixed } from './h264';
import { JpegSplitter } from './jpeg-splitter';
import { MediaProbeError } from './probe';

/*
 * The candidate's camera (or a file) through libx264, with small JPEG snapshots for face detection from the same
 * decoded pictures, in one ffmpeg child. The numbers, measured on the sample videos at 640x480, 15 fps:
 * - `veryfast` + `zerolatency`: no B-frames, no look-ahead, one frame of latency; about 6 % of one core.
 * - CRF 28 keeps a still talking head at ~150-300 kbit/s and SSIM ~0.95; `maxrate`/`bufsize` 600 kbit/s (a 1 s
 *   VBV) caps what motion can cost, so H.264 + Opus + snapshots stay well under 1 Mbit/s on a household uplink.
 * - a keyframe every 2 s: what a resume or a cut file can lose to an undecodable run is at most 2 s; shorter
 *   GOPs cost bits (an IDR is 5-10x a P-frame).
 * - `aud=1`: an access unit delimiter starts every picture, so access units split without parsing slices.
 */
export const X264_ARGS = ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0', '-crf', '28', '-maxrate', '600k', '-bufsize', '600k', '-x264-params', 'aud=1'];

export interface H264Frame {
  /** Length-prefixed NAL units, without parameter sets or delimiters: what the recording stores. */
  data: Buffer;
  keyframe: boolean;
  /** avcC built from the latest SPS/PPS (x264 repeats them before every IDR). */
  avcC: Buffer;
}

export interface H264EncoderOptions {
  /** ffmpeg input arguments (`-i FILE`, or a V4L2 device with its options). */
  input: string[];
  width: number;
  height: number;
  fps: number;
  /** Run the input again when it ends (a file played in a loop). */
  loop: boolean;
  /** 0: no snapshots. */
  snapshotIntervalMs: number;
  snapshotWidth: number;
  snapshotHeight: number;
}

/** The encoder's ffmpeg command line, with the H.264 on pipe:1 and the snapshots (if any) on pipe:3. */
export function h264EncoderArgs(o: H264EncoderOptions, out = { video: 'pipe:1', snapshots: 'pipe:3' }): string[] {
    const gop = String(Math.max(1, Math.round(o.fps * 2)));
  const snap = o.snapshotIntervalMs > 0;
  const graph = `[0:v]scale=${o.width}:${o.height},fps=${o.fps},format=yuv420p${snap ? `,split=2[v][s];[s]fps=${1000 / o.snapshotIntervalMs},scale=${o.snapshotWidth}:${o.snapshotHeight}[snap]` : '[v]'}`;
  return ['-nostdin', '-loglevel', 'error', ...(o.loop ? ['-stream_loop', '-1'] : []), ...o.input, '-an', '-sn', '-filter_complex', graph,
    '-map', '[v]', ...X264_ARGS, '-g', gop, '-f', 'h264', out.video,
    // q 8 of mjpeg's 2-31: a 320x240 face stays sharp enough for the detector at ~6-8 KB a snapshot.
    ...(snap ? ['-map', '[snap]', '-c:v', 'mjpeg', '-q:v', '8', '-f', 'image2pipe', out.snapshots] : [])];
}

export class H264Encoder {
  private readonly child: ChildProcess;
  private stderr = '';
  private readonly exited: Promise<number | null>;
  private lastCpuS = 0;
  /** /proc is gone once the child exits, so its CPU time is sampled while it runs. */
  private readonly cpuTimer: NodeJS.Timeout;

  constructor(private readonly o: H264EncoderOptions) {
    this.child = spawn('ffmpeg', h264EncoderArgs(o), { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.cpuTimer = setInterval(() => void this.cpuSeconds, 500);
    this.cpuTimer.unref();
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
    this.child.once('exit', () => clearInterval(this.cpuTimer));
    this.child.once('error', (err) => (this.stderr += `cannot run ffmpeg: ${err.message}`));
  }

  /** CPU seconds the encoder has used (kept after it exits). */
  get cpuSeconds(): number {
    this.lastCpuS = childCpuSeconds(this.child.pid) ?? this.lastCpuS;
    return this.lastCpuS;
  }

  async *frames(): AsyncGenerator<H264Frame> {
    const splitter = new AnnexBSplitter();
    let avcC: Buffer | null = null;
    const convert = (units: ReturnType<AnnexBSplitter['push']>): H264Frame[] =>
      units.map((u) => {
        const sps = u.nals.filter((n) => nalType(n) === NAL.sps);
        const pps = u.nals.filter((n) => nalType(n) === NAL.pps);
        if (sps.length > 0 && pps.length > 0) avcC = avcDecoderConfig(sps, pps);
        if (!avcC) throw new MediaProbeError('the H.264 encoder sent a picture before its parameter sets');
        const data = toLengthPrefixed(u.nals.filter((n) => ![NAL.sps, NAL.pps, NAL.aud].includes(nalType(n) as 7)));
        return { data, keyframe: u.keyframe, avcC };
      });
    for await (const chunk of this.child.stdout as Readable) yield* convert(splitter.push(chunk as Buffer));
    yield* convert(splitter.end());
    const code = await this.exited;
    if (code !== 0) throw new MediaProbeError(`the H.264 encoder (ffmpeg) failed: ${this.stderr.trim().split('\n').pop() ?? `exit ${code}`}`);
  }

  async *snapshots(): AsyncGenerator<Buffer> {
    const out = this.child.stdio[3] as Readable | null;
    if (!out || this.o.snapshotIntervalMs <= 0) return;
    const splitter = new JpegSplitter();
    out.pipe(splitter);
    for await (const jpeg of splitter) yield jpeg as Buffer;
  }

  close(): void {
    void this.cpuSeconds;
    clearInterval(this.cpuTimer);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
