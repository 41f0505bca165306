/**
 * bench/vad: voice activity accuracy per labelled WAV (100 ms windows, majority of 20 ms frames) and its cost.
 *
 *   node dist/bench/vad.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { VoiceActivityDetector, type VadFrame } from '../src/detect/vad';
import { WavFileSource } from '../src/media/wav-file';
import { MEDIA, cpuTimeS, machineInfo, machineLine, table, writeResult } from './lib/report';

async function main(): Promise<void> {
  const labels = readFileSync(path.join(MEDIA, 'audio', 'segments.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const machine = machineInfo();
  console.log(`bench/vad: ${machineLine(machine)}`);
  const rows: string[][] = [];
  for (const file of [...new Set(labels.map((l) => l[0]!))]) {
    const wav = await WavFileSource.open(path.join(MEDIA, 'audio', file));
    const chunks: Buffer[] = [];
    for await (const c of wav.chunks(40)) chunks.push(c);
    const vad = new VoiceActivityDetector(wav.format.sampleRate, wav.format.channels);
    const t0 = cpuTimeS();
    const frames: VadFrame[] = [];
    for (const c of chunks) frames.push(...vad.push(c));
    frames.push(...vad.flush());
    const us = (cpuTimeS() - t0) * 1e6;
    const seconds = chunks.reduce((a, c) => a + c.length, 0) / 2 / wav.format.channels / wav.format.sampleRate;
    const windows = new Map<number, [number, number]>();
    for (const f of frames) {
      const k = Math.floor(f.t * 10 + 1e-6);
      const w = windows.get(k) ?? [0, 0];
      w[0]++;
      if (f.speech) w[1]++;
      windows.set(k, w);
    }
    let right = 0;
    let total = 0;
    for (const [k, [n, sp]] of windows) {
      const mid = k / 10 + 0.05;
      const seg = labels.find((l) => l[0] === file && mid >= Number(l[1]) && mid < Number(l[2]));
      if (!seg) continue;
      total++;
      if ((sp * 2 > n) === (seg[3] === 'speech')) right++;
    }
    rows.push([file, `${wav.format.sampleRate} Hz, ${wav.format.channels} ch`, String(total), String(right), `${((100 * right) / total).toFixed(1)} %`, (us / seconds).toFixed(0)]);
  }
  const body = table(['file', 'format', 'windows', 'right', 'accuracy', 'µs of CPU per second of audio'], rows, [false, false, true, true, true, true]);
  console.log(body);
  writeResult(
    'vad',
    machine,
    `Voice activity per labelled WAV (20 ms frames, -45 dBFS floor, +12 dB over the noise, 0.5 s hangover), scored in ` +
      `100 ms windows by majority against segments.csv, and its cost on one core:\n\n${body}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
