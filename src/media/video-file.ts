import { spawn } from 'node:child_process';
import { JpegSplitter } from './jpeg-splitter';
import { MediaProbeError, parseRate, probe } from './probe';

export interface VideoFileOptions {
  /** Frame size to send; default: the file's own. */
  width?: number;
  height?: number;
  /** Frames per second to send; default: the file's own rate. */
  fps?: number;
  /** JPEG quality 1-100 (higher is better and larger). */
  quality: number;
  /** ffmpeg input format for devices (`v4l2` for a webcam); files are probed instead. */
  inputFormat?: string;
  /** ffmpeg options for that input (for V4L2: the frame rate and size to ask the camera for). */
  inputOptions?: string[];
}

/** Maps a 1-100 quality to ffmpeg's mjpeg qscale (31 = worst, 2 = best). */
export function qscaleFor(quality: number): number {
  const q = Math.min(100, Math.max(1, quality));
  return Math.round(31 - ((q - 1) * 29) / 99);
}

/**
 * A video file decoded, scaled and JPEG-encoded by an ffmpeg child process. ffmpeg does the pixel work in its own
 * process, so the client's event loop only splits and sends finished JPEGs.
 */
export class VideoFileSource {
  private constructor(
    readonly path: string,
    readonly fps: number,
    readonly width: number,
    readonly height: number,
    /** Frames in the file as its header declares them (0 when it does not say). */
    readonly declaredFrames: number,
    private readonly opts: VideoFileOptions,
  ) {}

  static async open(path: string, opts: VideoFileOptions): Promise<VideoFileSource> {
    if (opts.inputFormat) {
      // A live device has no file to probe: its size and rate are what we ask it for.
      return new VideoFileSource(path, opts.fps ?? 15, opts.width ?? 640, opts.height ?? 480, 0, opts);
    }
    const info = await probe(path);
    const stream = info.streams.find((s) => s.codec_type === 'video');
    if (!stream) throw new MediaProbeError(`${path} has no video stream`);
    const fileFps = parseRate(stream.avg_frame_rate) ?? parseRate(stream.r_frame_rate);
    const fps = opts.fps ?? fileFps;
    if (!fps || fps > 120) throw new MediaProbeError(`cannot tell the frame rate of ${path}; pass --fps`);
    const width = opts.width ?? stream.width ?? 0;
    const height = opts.height ?? stream.height ?? 0;
    if (!width || !height) throw new MediaProbeError(`cannot tell the frame size of ${path}`);
    const duration = Number(stream.duration ?? info.format.duration ?? 0);
    const declared = Number(stream.nb_frames ?? 0) || Math.round(duration * fps) || 0;
    return new VideoFileSource(path, fps, width, height, opts.fps ? Math.round(duration * fps) : declared, opts);
  }

  /** ffmpeg input arguments for this source, for an encoder that reads it itself (the H.264 path). */
  get ffmpegInput(): string[] {
    return this.opts.inputFormat ? ['-f', this.opts.inputFormat, ...(this.opts.inputOptions ?? []), '-i', this.path] : ['-i', this.path];
  }

  /** One pass over the file; breaking out of the loop stops ffmpeg. */
  async *frames(): AsyncGenerator<Buffer> {
    const filters = [`scale=${this.width}:${this.height}`];
    if (this.opts.fps) filters.push(`fps=${this.opts.fps}`);
    const input = this.opts.inputFormat
      ? ['-f', this.opts.inputFormat, ...(this.opts.inputOptions ?? []), '-i', this.path]
      : ['-i', this.path];
    const args = ['-nostdin', '-loglevel', 'error', ...input, '-an', '-sn', '-vf', filters.join(','),
      '-pix_fmt', 'yuvj420p', '-c:v', 'mjpeg', '-q:v', String(qscaleFor(this.opts.quality)), '-f', 'image2pipe', 'pipe:1'];
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const splitter = new JpegSplitter();
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    child.once('error', (err) => splitter.destroy(new MediaProbeError(`cannot run ffmpeg: ${err.message}`)));
    child.stdout.pipe(splitter);
    try {
      for await (const frame of splitter) yield frame as Buffer;
      const code = await exited;
      if (code !== 0) {
        throw new MediaProbeError(`ffmpeg could not decode ${this.path}: ${stderr.trim().split('\n').pop() ?? `exit ${code}`}`);
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}
