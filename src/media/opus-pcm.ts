import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { OggOpusWriter, parseOpusHead } from './ogg-opus';

/**
 * Opus packets in, s16le PCM out, through an ffmpeg child: listening (48 kHz). PCM chunks are timed from the first
 * packet's capture time plus the samples decoded so far (the encoder's pre-skip already removed). ffmpeg is told
 * not to probe. `live` (listening) flushes every packet each way, so PCM follows within tens of ms; otherwise
 * packets go in batches of 5 and PCM comes out in ffmpeg's 32 KB writes, a second behind. Voice activity decodes
 * with OpusWasmDecoder (opus-wasm.ts) instead; the batched mode only serves a voice-activity format that decoder
 * does not take (not mono, or not a libopus rate), which the server does not ask for today.
 */
export class OpusPcmDecoder {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly ogg = new OggOpusWriter();
  private startMs: number | null = null;
  private samplesOut = 0;
  private closed = false;
  readonly channels: number;

  constructor(
    opusHead: Buffer,
    onPcm: (timestampMs: number, pcm: Buffer) => void,
    onError: (err: Error) => void,
    readonly rate = 48000,
    mono = false,
    private readonly live = true,
  ) {
    this.channels = mono ? 1 : parseOpusHead(opusHead).channels;
    const args = ['-hide_banner', '-v', 'error', '-probesize', '4096', '-analyzeduration', '0', '-fflags', 'nobuffer', '-f', 'ogg', '-i', 'pipe:0',
      '-f', 's16le', '-ac', String(this.channels), '-ar', String(rate), ...(live ? ['-flush_packets', '1'] : []), 'pipe:1'];
    this.child = spawn('ffmpeg', args, { stdio: 'pipe' });
    this.child.once('error', (err) => this.closed || onError(err));
    this.child.stdin.on('error', () => undefined); // the child exiting first is reported through 'exit'
    this.child.once('exit', (code) => this.closed || onError(new Error(`the Opus decoder (ffmpeg) exited with code ${code}`)));
    this.child.stdout.on('data', (pcm: Buffer) => {
      const ts = (this.startMs ?? 0) + (this.samplesOut * 1000) / this.rate;
      this.samplesOut += pcm.length / 2 / this.channels;
      onPcm(ts, pcm);
    });
    this.child.stdin.write(this.ogg.header(opusHead));
  }

  private batch: Buffer[] = [];

  push(timestampMs: number, packet: Buffer, samples: number): void {
    if (this.closed) return;
    this.startMs ??= timestampMs;
    this.batch.push(this.ogg.packet(packet, samples));
    if (this.live || this.batch.length >= 5) this.flush();
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    this.child.stdin.write(this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch));
    this.batch = [];
  }

  /** Ends the input and waits (at most `timeoutMs`) for the PCM of the packets already pushed. */
  async drain(timeoutMs = 2_000): Promise<void> {
    if (this.closed) return;
    // Closed for pushes and for errors (its exit is now expected); its PCM still comes out until it exits.
    this.flush();
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.kill();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.kill();
  }

  private kill(): void {
    this.child.stdin.end();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}
