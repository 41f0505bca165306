/**
 * Camera and microphone in the page: WebCodecs H.264 (avc format: avcC plus length-prefixed NAL units, as
 * protocol 2 carries them) and Opus, and 320x240 JPEG snapshots for the server's face detection. The numbers
 * follow the headless client's (README, "H.264 and Opus"): 640x480 at 15 fps, a keyframe every 2 s, about
 * 500 kbit/s at most for video and 24 kbit/s for speech in 40 ms Opus packets.
 */
import type { H264FrameMessage, OpusPacketMessage, SnapshotMessage } from '../protocol/candidate-wire';

export const WIDTH = 640;
export const HEIGHT = 480;
export const FPS = 15;
const KEYFRAME_EVERY = 2 * FPS;
const SNAPSHOT_W = 320;
const SNAPSHOT_H = 240;
const OPUS_RATE = 48_000;
/** 40 ms packets, like the headless client: 25 a second, so resending a 10 s buffer stays inside the server's message-rate limit. */
const OPUS_FRAME = 1920;
/** libopus's look-ahead at 48 kHz, for an encoder that does not say its own pre-skip. */
const DEFAULT_PRE_SKIP = 312;

export const VIDEO_CONFIG: VideoEncoderConfig = {
  codec: 'avc1.42001f', // Constrained Baseline 3.1: every decoder, no B-frames
  width: WIDTH,
  height: HEIGHT,
  framerate: FPS,
  bitrate: 500_000,
  latencyMode: 'realtime',
  avc: { format: 'avc' },
};

export const AUDIO_CONFIG: AudioEncoderConfig = {
  codec: 'opus',
  sampleRate: OPUS_RATE,
  numberOfChannels: 1,
  bitrate: 24_000,
  opus: { frameDuration: (OPUS_FRAME / OPUS_RATE) * 1e6 },
};

/** What this browser lacks for the page, in words for the candidate; null when it has everything. */
export async function missingFeatures(): Promise<string | null> {
  if (!window.isSecureContext) return 'this page must be opened over https:// (browsers allow the camera only on secure pages)';
  if (!navigator.mediaDevices?.getUserMedia) return 'this browser cannot use a camera from a web page';
  if (typeof VideoEncoder === 'undefined' || typeof AudioEncoder === 'undefined') return 'this browser cannot encode video in a web page (WebCodecs); use a current Chrome, Edge, Firefox or Safari';
  if (typeof AudioWorkletNode === 'undefined') return 'this browser cannot read the microphone in a web page (AudioWorklet)';
  const v = await VideoEncoder.isConfigSupported(VIDEO_CONFIG).catch(() => ({ supported: false }));
  if (!v.supported) return 'this browser cannot encode H.264 video; use a current Chrome, Edge, Firefox or Safari';
  const a = await AudioEncoder.isConfigSupported(AUDIO_CONFIG).catch(() => ({ supported: false }));
  if (!a.supported) return 'this browser cannot encode Opus audio; use a current Chrome, Edge, Firefox or Safari';
  return null;
}

export interface DeviceChoice {
  cameraId: string | null;
  micId: string | null;
}

export async function openDevices(choice: DeviceChoice): Promise<MediaStream> {
  return navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: WIDTH }, height: { ideal: HEIGHT }, frameRate: { ideal: FPS }, ...(choice.cameraId ? { deviceId: { exact: choice.cameraId } } : {}) },
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, ...(choice.micId ? { deviceId: { exact: choice.micId } } : {}) },
  });
}

export async function listDevices(): Promise<{ cameras: MediaDeviceInfo[]; mics: MediaDeviceInfo[] }> {
  const all = await navigator.mediaDevices.enumerateDevices();
  return { cameras: all.filter((d) => d.kind === 'videoinput'), mics: all.filter((d) => d.kind === 'audioinput') };
}

/** An OpusHead (RFC 7845 §5.1) for an encoder that gives none: mono or stereo, channel mapping family 0. */
export function opusHead(channels: number, preSkip: number, inputRate: number): Uint8Array {
  const b = new Uint8Array(19);
  const v = new DataView(b.buffer);
  b.set(new TextEncoder().encode('OpusHead'), 0);
  v.setUint8(8, 1);
  v.setUint8(9, channels);
  v.setUint16(10, preSkip, true);
  v.setUint32(12, inputRate, true);
  v.setInt16(16, 0, true);
  v.setUint8(18, 0);
  return b;
}

function bytesOf(source: AllowSharedBufferSource): Buffer {
  const view = ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
  return Buffer.from(view.slice());
}

export interface CaptureSinks {
  config(track: 'video' | 'audio', data: Buffer): void;
  video(frame: H264FrameMessage): void;
  audio(packet: OpusPacketMessage): void;
  snapshot(s: SnapshotMessage): void;
  /** Microphone level, 0..1 (RMS), a few times a second. */
  level(rms: number): void;
  /** An encoder or device failed: capture has stopped. */
  failed(message: string): void;
}

/** Encodes a camera and microphone stream until stop(); `sendVideo`/`sendAudio` follow the server's mode. */
export class Capture {
  sendVideo = true;
  sendAudio = true;
  snapshotIntervalMs = 0;
  private readonly started = performance.now();
  private videoSeq = 0;
  private audioSeq = 0;
  private frames = 0;
  private lastSnapshot = -Infinity;
  private readonly video: HTMLVideoElement;
  private videoEncoder: VideoEncoder | null = null;
  private audioEncoder: AudioEncoder | null = null;
  private audioContext: AudioContext | null = null;
  private tick: ReturnType<typeof setInterval> | null = null;
  private pcm = new Float32Array(OPUS_FRAME);
  private pcmFill = 0;
  private pcmStartUs = 0;
  private levelSum = 0;
  private levelCount = 0;
  private stopped = false;

  constructor(
    private readonly stream: MediaStream,
    private readonly sinks: CaptureSinks,
  ) {
    this.video = document.createElement('video');
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.srcObject = stream;
  }

  /** Milliseconds since capture began: the session's clock for both tracks. */
  now(): number {
    return performance.now() - this.started;
  }

  async start(): Promise<void> {
    await this.video.play();
    this.videoEncoder = new VideoEncoder({
      output: (chunk, meta) => this.onVideo(chunk, meta),
      error: (e) => this.fail(`the video encoder failed: ${e.message}`),
    });
    this.videoEncoder.configure(VIDEO_CONFIG);
    this.audioEncoder = new AudioEncoder({
      output: (chunk, meta) => this.onAudio(chunk, meta),
      error: (e) => this.fail(`the audio encoder failed: ${e.message}`),
    });
    this.audioEncoder.configure(AUDIO_CONFIG);
    await this.startMicrophone();
    this.tick = setInterval(() => this.grab(), 1000 / FPS);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    for (const enc of [this.videoEncoder, this.audioEncoder]) {
      if (enc && enc.state !== 'closed') enc.close();
    }
    void this.audioContext?.close();
    for (const track of this.stream.getTracks()) track.stop();
  }

  private async startMicrophone(): Promise<void> {
    const ctx = new AudioContext({ sampleRate: OPUS_RATE });
    this.audioContext = ctx;
    await ctx.audioWorklet.addModule(new URL('mic-worklet.js', document.baseURI).href);
    const source = ctx.createMediaStreamSource(this.stream);
    const node = new AudioWorkletNode(ctx, 'mic-capture', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
    node.port.onmessage = (ev: MessageEvent<Float32Array>) => this.onPcm(ev.data);
    source.connect(node);
  }

  /** One camera picture a frame interval: encoded, and now and then also a snapshot for the detector. */
  private grab(): void {
    if (this.stopped || !this.videoEncoder || this.video.readyState < 2) return;
    const ms = this.now();
    if (this.sendVideo && this.videoEncoder.encodeQueueSize < 3) {
      const frame = new VideoFrame(this.video, { timestamp: Math.round(ms * 1000) });
      this.videoEncoder.encode(frame, { keyFrame: this.frames % KEYFRAME_EVERY === 0 });
      frame.close();
      this.frames++;
    }
    if (this.sendVideo && this.snapshotIntervalMs > 0 && ms - this.lastSnapshot >= this.snapshotIntervalMs) {
      this.lastSnapshot = ms;
      void this.snapshot(ms);
    }
  }

  private async snapshot(ms: number): Promise<void> {
    const canvas = new OffscreenCanvas(SNAPSHOT_W, SNAPSHOT_H);
    const g = canvas.getContext('2d');
    if (!g) return;
    g.drawImage(this.video, 0, 0, SNAPSHOT_W, SNAPSHOT_H);
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.75 });
    if (this.stopped) return;
    this.sinks.snapshot({ type: 'snapshot', timestampMs: ms, jpeg: Buffer.from(await blob.arrayBuffer()) });
  }

  private onVideo(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined): void {
    const description = meta?.decoderConfig?.description;
    if (description) this.sinks.config('video', bytesOf(description));
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    this.sinks.video({ type: 'h264_frame', seq: this.videoSeq++, timestampMs: chunk.timestamp / 1000, keyframe: chunk.type === 'key', data: Buffer.from(data.buffer) });
  }

  private onAudio(chunk: EncodedAudioChunk, meta: EncodedAudioChunkMetadata | undefined): void {
    if (meta?.decoderConfig) {
      const d = meta.decoderConfig.description;
      const head = d ? bytesOf(d) : null;
      const isHead = head !== null && head.length >= 19 && head.subarray(0, 8).toString('latin1') === 'OpusHead';
      this.sinks.config('audio', isHead ? head : Buffer.from(opusHead(1, DEFAULT_PRE_SKIP, OPUS_RATE)));
    }
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    const samples = Math.round(((chunk.duration ?? 20_000) * OPUS_RATE) / 1e6);
    this.sinks.audio({ type: 'opus_packet', seq: this.audioSeq++, timestampMs: chunk.timestamp / 1000, samples, data: Buffer.from(data.buffer) });
  }

  /** Microphone samples from the worklet, cut into 20 ms Opus frames stamped on the session clock. */
  private onPcm(block: Float32Array): void {
    if (this.stopped || !this.audioEncoder) return;
    for (let i = 0; i < block.length; ) {
      if (this.pcmFill === 0) this.pcmStartUs = Math.round((this.now() - ((block.length - i) / OPUS_RATE) * 1000) * 1000);
      const n = Math.min(OPUS_FRAME - this.pcmFill, block.length - i);
      this.pcm.set(block.subarray(i, i + n), this.pcmFill);
      for (let k = i; k < i + n; k++) this.levelSum += block[k]! * block[k]!;
      this.levelCount += n;
      this.pcmFill += n;
      i += n;
      if (this.pcmFill === OPUS_FRAME) {
        if (this.sendAudio) {
          const data = new AudioData({ format: 'f32-planar', sampleRate: OPUS_RATE, numberOfFrames: OPUS_FRAME, numberOfChannels: 1, timestamp: Math.max(0, this.pcmStartUs), data: this.pcm });
          this.audioEncoder.encode(data);
          data.close();
        }
        this.pcm = new Float32Array(OPUS_FRAME);
        this.pcmFill = 0;
      }
    }
    if (this.levelCount >= OPUS_RATE / 8) {
      this.sinks.level(Math.sqrt(this.levelSum / this.levelCount));
      this.levelSum = 0;
      this.levelCount = 0;
    }
  }

  private fail(message: string): void {
    if (this.stopped) return;
    this.stop();
    this.sinks.failed(message);
  }
}

/** The microphone's level alone, for the setup screen before anything is sent. */
export async function levelMeter(stream: MediaStream, onLevel: (rms: number) => void): Promise<() => void> {
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule(new URL('mic-worklet.js', document.baseURI).href);
  const node = new AudioWorkletNode(ctx, 'mic-capture', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
  let sum = 0;
  let count = 0;
  node.port.onmessage = (ev: MessageEvent<Float32Array>) => {
    for (const x of ev.data) sum += x * x;
    count += ev.data.length;
    if (count >= ctx.sampleRate / 8) {
      onLevel(Math.sqrt(sum / count));
      sum = 0;
      count = 0;
    }
  };
  ctx.createMediaStreamSource(stream).connect(node);
  return () => void ctx.close();
}
