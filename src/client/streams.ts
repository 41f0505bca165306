// The candidate's media, paced at real time from one origin: JPEG + PCM as captured (protocol version 1), or
// H.264 + Opus from ffmpeg encoders plus snapshots for the server's face detection (version 2). Apart from
// client.ts, which owns the connection and numbers, buffers and sends what this captures.
import { modeIncludesAudio, modeIncludesVideo, type ModeName, type WelcomeMessage } from '../protocol';
import { H264Encoder, type H264EncoderOptions, type H264Frame } from '../media/h264-encoder';
import { OpusEncoder, type OpusOutput } from '../media/opus-encoder';
import { ClientStop, ClientExit } from './exit';
import { paceAtRealTime } from './pacer';
import type { Track } from './resend-buffer';
import type { ClientOptions } from './types';

export interface StreamHost {
  readonly opts: ClientOptions;
  readonly signal: AbortSignal;
  mode(): ModeName;
  limits(): WelcomeMessage['limits'] | null;
  /** How often the server wants a snapshot (ms; 0: none), from the first WELCOME. */
  snapshotIntervalMs(): number;
  ready(): Promise<void>;
  capture(kind: Track, captureMs: number, data: Buffer, meta?: { keyframe?: boolean; samples?: number }): void;
  /** A track's codec configuration, sent before its first frame and again after every reconnect. */
  configure(track: Track, data: Buffer): void;
  snapshot(captureMs: number, jpeg: Buffer): void;
  stop(reason: ClientStop): void;
}

/** What the H.264 path needs of its encoders; ffmpeg children by default, pre-encoded media in bench/ingest. */
export interface Encoders {
  video(o: H264EncoderOptions): { frames(): AsyncIterable<H264Frame>; snapshots(): AsyncIterable<Buffer>; readonly cpuSeconds: number; close(): void };
  audio(pcm: AsyncIterable<Buffer>, format: { sampleRate: number; channels: number }): { packets(): AsyncIterable<OpusOutput>; readonly cpuSeconds: number; close(): void };
}

const FFMPEG_ENCODERS: Encoders = {
  video: (o) => new H264Encoder(o),
  audio: (pcm, format) => new OpusEncoder(pcm, format),
};

export function streamMedia(host: StreamHost): Promise<void> {
  return host.opts.codec === 'h264' ? streamEncoded(host) : streamRaw(host);
}

/** JPEG frames and PCM chunks as the sources give them. */
async function streamRaw(host: StreamHost): Promise<void> {
  const origin = performance.now();
  const { video, audio } = host.opts;
  const frameMs = video ? 1000 / video.source.fps : 0;
  const common = { origin, signal: host.signal, ready: () => host.ready(), loop: host.opts.loop };
  await Promise.all([
    video &&
      paceAtRealTime({
        ...common,
        pass: () => video.source.frames(),
        timeOf: (index) => index * frameMs,
        enabled: () => modeIncludesVideo(host.mode()),
        send: (jpeg, ts) => {
          // 12 bytes of seq and timestamp precede the JPEG in the payload.
          const limits = host.limits();
          if (limits && jpeg.length + 12 > limits.video) {
            host.stop(new ClientStop(ClientExit.usage, `a ${jpeg.length}-byte JPEG exceeds the server's limit of ${limits.video - 12} bytes; lower --quality, --width or --height`));
            return;
          }
          host.capture('video', ts, jpeg);
        },
      }),
    audio &&
      paceAtRealTime({
        ...common,
        pass: () => audio.chunks(host.opts.audioChunkMs ?? 40),
        timeOf: (_, before) => (before * 1000) / audio.format.sampleRate,
        units: (pcm) => pcm.length / 2 / audio.format.channels,
        enabled: () => modeIncludesAudio(host.mode()),
        send: (pcm, ts) => host.capture('audio', ts, pcm),
      }),
  ]);
}

/** H.264 access units, snapshots and Opus packets from ffmpeg encoders; prints what the encoders cost. */
async function streamEncoded(host: StreamHost): Promise<void> {
  const origin = performance.now();
  const { video, audio, loop } = host.opts;
  const common = { origin, signal: host.signal, ready: () => host.ready(), loop: false };
  const frameMs = video ? 1000 / video.source.fps : 0;
  const snapMs = host.snapshotIntervalMs();
  const size = host.opts.snapshotSize ?? { width: 320, height: 240 };
  if (video && !host.opts.encoders && !video.source.ffmpegInput) throw new ClientStop(ClientExit.usage, 'this video source cannot feed the H.264 encoder; use --codec mjpeg');
  const encoders = host.opts.encoders ?? FFMPEG_ENCODERS;
  const h264 = video
    ? encoders.video({ input: video.source.ffmpegInput ?? [], width: video.width, height: video.height, fps: video.source.fps, loop, snapshotIntervalMs: snapMs, snapshotWidth: size.width, snapshotHeight: size.height })
    : null;
  // Opus is fed by the PCM source as the encoder takes it; the packets are what is paced. A looped file restarts.
  const pcm = audio ? (loop ? repeat(() => audio.chunks(host.opts.audioChunkMs ?? 40), host.signal) : audio.chunks(host.opts.audioChunkMs ?? 40)) : null;
  const opus = audio && pcm ? encoders.audio(pcm, audio.format) : null;
  let config: Buffer | null = null;
  // After frames were skipped (the mode excluded video) the next one sent must be a keyframe, or it cannot be decoded.
  let needKeyframe = true;
  const started = performance.now();
  try {
    await Promise.all([
      h264 &&
        paceAtRealTime({
          ...common,
          pass: () => h264.frames(),
          timeOf: (index) => index * frameMs,
          enabled: () => modeIncludesVideo(host.mode()) || !(needKeyframe = true),
          send: (f, ts) => {
            if (needKeyframe && !f.keyframe) return;
            needKeyframe = false;
            if (!config?.equals(f.avcC)) host.configure('video', (config = f.avcC));
            host.capture('video', ts, f.data, { keyframe: f.keyframe });
          },
        }),
      h264 &&
        snapMs > 0 &&
        paceAtRealTime({
          ...common,
          pass: () => h264.snapshots(),
          timeOf: (index) => index * snapMs,
          enabled: () => modeIncludesVideo(host.mode()),
          send: (jpeg, ts) => host.snapshot(ts, jpeg),
        }),
      opus &&
        paceAtRealTime({
          ...common,
          pass: () => opus.packets(),
          timeOf: (_, before) => (before * 1000) / 48000,
          units: (p) => (p.type === 'packet' ? p.samples : 0),
          enabled: () => modeIncludesAudio(host.mode()),
          send: (p, ts) => (p.type === 'head' ? host.configure('audio', p.head) : host.capture('audio', ts, p.packet, { samples: p.samples })),
        }),
    ]);
  } finally {
    h264?.close();
    opus?.close();
    const wallS = (performance.now() - started) / 1000;
    const share = (cpu: number): string => `${((cpu / Math.max(wallS, 0.001)) * 100).toFixed(1)} %`;
    if (h264) host.opts.print(`ENCODER H.264 used ${h264.cpuSeconds.toFixed(2)} s CPU in ${wallS.toFixed(1)} s (${share(h264.cpuSeconds)} of one core)`);
    if (opus) host.opts.print(`ENCODER Opus used ${opus.cpuSeconds.toFixed(2)} s CPU in ${wallS.toFixed(1)} s (${share(opus.cpuSeconds)} of one core)`);
  }
}

async function* repeat<T>(pass: () => AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  while (!signal.aborted) yield* pass();
}
