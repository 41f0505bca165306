/**
 * The microphone through ffmpeg, for a candidate-only install without naudiodon (PortAudio needs a C++
 * toolchain and ALSA headers to build; ffmpeg is already required for the camera). ffmpeg reads the platform's
 * own capture API and writes raw s16le PCM to stdout; the client paces what it sends by sample count, as it does
 * for PortAudio.
 */
import { spawn } from 'node:child_process';
import { pcmChunks } from './pcm-chunks';
import { MediaProbeError } from './probe';
import type { PcmFormat } from './wav-file';

/** ffmpeg's input for a device on this platform: ALSA on Linux, AVFoundation on macOS, DirectShow on Windows. */
export function ffmpegMicInput(device: string, rate: number, channels: number, platform: NodeJS.Platform = process.platform): string[] {
  if (platform === 'darwin') return ['-f', 'avfoundation', '-i', `:${device === 'default' ? '0' : device}`];
  if (platform === 'win32') {
    // DirectShow has no "default": the candidate names the device shown by `ffmpeg -list_devices true -f dshow -i dummy`.
    if (device === 'default') throw new MediaProbeError('on Windows without naudiodon, name the microphone: --audio mic:"Microphone (Realtek Audio)" (ffmpeg -list_devices true -f dshow -i dummy lists them)');
    return ['-f', 'dshow', '-i', `audio=${device}`];
  }
  // ALSA opens the device at 48 kHz stereo unless told otherwise, which a device without its own rate (a file) takes at its word.
  return ['-f', 'alsa', '-sample_rate', String(rate), '-channels', String(channels), '-i', device];
}

export class FfmpegMicrophone {
  readonly format: PcmFormat;

  constructor(
    readonly device: string,
    rate: number,
    channels: number,
  ) {
    this.format = { sampleRate: rate, channels };
  }

  async *chunks(chunkMs: number): AsyncGenerator<Buffer> {
    const { sampleRate, channels } = this.format;
    // Timestamps from the sample count, not the arrival time: the client paces by samples, and a device that delivers
    // in bursts would otherwise make the muxer drop or complain about samples that arrive "at the same time".
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...ffmpegMicInput(this.device, sampleRate, channels), '-af', 'asetpts=N/SR/TB', '-ac', String(channels), '-ar', String(sampleRate), '-f', 's16le', 'pipe:1'];
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      // Burst-delivering devices still make the raw muxer repeat a harmless timestamp complaint; keep the real errors.
      const lines = d.split('\n').filter((l) => !/non monotonically increasing dts|Last message repeated/.test(l));
      stderr = (stderr + lines.join('\n')).slice(-4000);
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    let finished = false;
    try {
      yield* pcmChunks(child.stdout, this.format, chunkMs);
      const code = await Promise.race([closed, spawnError]);
      finished = true;
      if (code instanceof Error) throw new MediaProbeError(`the microphone could not start: ffmpeg: ${code.message}`);
      if (code !== 0) throw new MediaProbeError(`the microphone stopped: ffmpeg: ${stderr.trim().split('\n').pop() ?? `exit ${code}`}`);
    } finally {
      if (!finished) child.kill('SIGTERM');
    }
  }
}
