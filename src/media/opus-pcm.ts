import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { OggOpusWriter, parseOpusHead } from './ogg-opus';

/**
 * Opus packets in, 48 kHz s16le PCM out, through an ffmpeg child: for listening in on one candidate, started
 * when someone listens and stopped when they stop, never for every candidate. PCM chunks are timed from the
 * first packet's capture time plus the samples decoded so far (the encoder's pre-skip already removed).
 */
export class OpusPcmDecoder {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly ogg = new OggOpusWriter();
  private startMs: number | null = null;
  private samplesOut = 0;
  private closed = false;
  readonly channels: number;

  constructor(opusHead: Buffer, onPcm: (timestampMs: number, pcm: Buffer) => void, onError: (err: Error) => void) {
    this.channels = parseOpusHead(opusHead).channels;
    this.child = spawn('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'ogg', '-i', 'pipe:0', '-f', 's16le', '-ac', String(this.channels), '-ar', '48000', 'pipe:1'], { stdio: 'pipe' });
    this.child.once('error', (err) => this.closed || onError(err));
    this.child.stdin.on('error', () => undefined); // the child exiting first is reported through 'exit'
    this.child.once('exit', (code) => this.closed || onError(new Error(`the Opus decoder (ffmpeg) exited with code ${code}`)));
    this.child.stdout.on('data', (pcm: Buffer) => {
      const ts = (this.startMs ?? 0) + (this.samplesOut * 1000) / 48000;
      this.samplesOut += pcm.length / 2 / this.channels;
      onPcm(ts, pcm);
    });
    this.child.stdin.write(this.ogg.header(opusHead));
  }

  push(timestampMs: number, packet: Buffer, samples: number): void {
    if (this.closed) return;
    this.startMs ??= timestampMs;
    this.child.stdin.write(this.ogg.packet(packet, samples));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child.stdin.end();
    this.child.kill('SIGTERM');
  }
}
