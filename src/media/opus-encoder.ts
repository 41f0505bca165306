import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { childCpuSeconds } from './child-cpu';
import { OggOpusReader } from './ogg-opus';
import { MediaProbeError } from './probe';

/*
 * PCM through libopus: mono, 24 kbit/s, `-application voip` (speech-tuned, with the encoder's own noise
 * handling), 20 ms packets. 24 kbit/s is wideband speech that a proctor understands at once; above 32 kbit/s
 * buys nothing for one voice. Each Ogg page carries one packet so packets leave as they are made.
 */
export const OPUS_ARGS = ['-ac', '1', '-c:a', 'libopus', '-b:a', '24k', '-application', 'voip', '-frame_duration', '20', '-page_duration', '20000', '-flush_packets', '1'];

export type OpusOutput = { type: 'head'; head: Buffer; channels: number } | { type: 'packet'; packet: Buffer; samples: number };

export class OpusEncoder {
  private readonly child: ChildProcess;
  private stderr = '';
  private readonly exited: Promise<number | null>;
  private lastCpuS = 0;
  /** /proc is gone once the child exits, so its CPU time is sampled while it runs. */
  private readonly cpuTimer: NodeJS.Timeout;

  constructor(
    private readonly pcm: AsyncIterable<Buffer>,
    format: { sampleRate: number; channels: number },
  ) {
    const args = ['-nostdin', '-loglevel', 'error', '-f', 's16le', '-ar', String(format.sampleRate), '-ac', String(format.channels), '-i', 'pipe:0', ...OPUS_ARGS, '-f', 'ogg', 'pipe:1'];
    this.child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.child.stdin!.on('error', () => undefined); // an encoder that died is reported by packets()
    this.cpuTimer = setInterval(() => void this.cpuSeconds, 500);
    this.cpuTimer.unref();
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
    this.child.once('exit', () => clearInterval(this.cpuTimer));
    this.child.once('error', (err) => (this.stderr += `cannot run ffmpeg: ${err.message}`));
    void this.feed(this.child.stdin!);
  }

  /** Writes the source into the encoder, waiting on the pipe so a paced reader paces the source too. */
  private async feed(stdin: Writable): Promise<void> {
    try {
      for await (const chunk of this.pcm) {
        if (stdin.destroyed) return;
        if (!stdin.write(chunk)) await new Promise<void>((resolve) => { stdin.once('drain', resolve); stdin.once('close', resolve); });
      }
    } catch (err) {
      this.stderr += `the audio source failed: ${(err as Error).message}`;
    }
    stdin.end();
  }

  get cpuSeconds(): number {
    this.lastCpuS = childCpuSeconds(this.child.pid) ?? this.lastCpuS;
    return this.lastCpuS;
  }

  async *packets(): AsyncGenerator<OpusOutput> {
    const reader = new OggOpusReader();
    for await (const chunk of this.child.stdout as Readable) {
      for (const item of reader.push(chunk as Buffer)) {
        yield item.type === 'head' ? { type: 'head', head: item.bytes, channels: item.head.channels } : { type: 'packet', packet: item.packet, samples: item.samples };
      }
    }
    const code = await this.exited;
    if (code !== 0) throw new MediaProbeError(`the Opus encoder (ffmpeg) failed: ${this.stderr.trim().split('\n').pop() ?? `exit ${code}`}`);
  }

  close(): void {
    void this.cpuSeconds;
    clearInterval(this.cpuTimer);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
