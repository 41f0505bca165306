import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FfmpegMicrophone } from './mic-ffmpeg';
import { pcmChunks } from './pcm-chunks';
import { MediaProbeError } from './probe';
import type { PcmFormat } from './wav-file';

const WORKER = path.join(__dirname, 'mic-worker.js');

export interface AudioInput {
  id: number;
  name: string;
  channels: number;
  rate: number;
  host: string;
}

/** Runs the microphone worker in a private temporary folder (naudiodon writes crash.log where it runs). */
function runWorker(args: string[]): { stream: Readable; errors: Promise<string>; done: Promise<number | null>; kill: () => void } {
  const cwd = mkdtempSync(path.join(tmpdir(), 'vigil-mic-'));
  const child = spawn(process.execPath, [WORKER, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const done = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolve(code);
    }),
  );
  const errors = done.then(() => {
    for (const line of stderr.trim().split('\n').reverse()) {
      try {
        const e = JSON.parse(line) as { error?: string };
        if (e.error) return e.error;
      } catch {
        // not one of ours
      }
    }
    return stderr.trim().split('\n').pop() ?? '';
  });
  return { stream: child.stdio[3] as Readable, errors, done, kill: () => child.kill('SIGTERM') };
}

/** True when the optional PortAudio binding is installed (a candidate-only install leaves it out). */
export function hasPortAudio(): boolean {
  try {
    require.resolve('naudiodon');
    return true;
  } catch {
    return false;
  }
}

/** The audio inputs PortAudio sees (for `vigil devices`). Empty without naudiodon: ffmpeg then captures `default`. */
export async function listAudioInputs(): Promise<AudioInput[]> {
  if (!hasPortAudio()) return [];
  const w = runWorker(['list']);
  let json = '';
  for await (const chunk of w.stream) json += (chunk as Buffer).toString('utf8');
  if ((await w.done) !== 0) throw new MediaProbeError(`cannot list audio devices: ${await w.errors}`);
  return JSON.parse(json) as AudioInput[];
}

/**
 * A live microphone through PortAudio, captured in a child process that sends back only PCM. The client paces
 * what it sends by sample count, so a source faster than real time (ALSA's file plugin in tests) is sent at
 * real time all the same.
 */
export class MicrophoneSource {
  readonly format: PcmFormat;

  private constructor(
    readonly device: string,
    rate: number,
    channels: number,
  ) {
    this.format = { sampleRate: rate, channels };
  }

  /**
   * `mic` or `mic:DEVICE` (an id or a name from `vigil devices`); fails at once when there is no input. Without
   * naudiodon the microphone is read through ffmpeg instead, DEVICE then being the platform's name for it.
   */
  static async open(spec: string, rate = 16_000, channels = 1): Promise<MicrophoneSource | FfmpegMicrophone> {
    const device = spec.includes(':') ? spec.slice(spec.indexOf(':') + 1) : 'default';
    if (!hasPortAudio()) return new FfmpegMicrophone(device, rate, channels);
    const inputs = await listAudioInputs();
    if (inputs.length === 0) throw new MediaProbeError('no microphone: PortAudio lists no audio input on this machine');
    if (device !== 'default' && !inputs.some((d) => String(d.id) === device || d.name === device)) {
      throw new MediaProbeError(`no audio input "${device}"; inputs here: ${inputs.map((d) => `${d.id} (${d.name})`).join(', ')}`);
    }
    return new MicrophoneSource(device, rate, channels);
  }

  async *chunks(chunkMs: number): AsyncGenerator<Buffer> {
    const w = runWorker(['capture', this.device, String(this.format.sampleRate), String(this.format.channels)]);
    try {
      yield* pcmChunks(w.stream, this.format, chunkMs);
      const code = await w.done;
      if (code !== 0) throw new MediaProbeError(`the microphone stopped: ${await w.errors}`);
    } finally {
      w.kill();
    }
  }
}
