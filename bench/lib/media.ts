/** Media and server plumbing shared by the benches: frames encoded once, sources that replay them, a real server. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AdminClient } from '../../src/admin/client';
import type { AudioSource, VideoSource } from '../../src/client/client';
import { VideoFileSource } from '../../src/media/video-file';
import { MEDIA, REPO } from './report';

/** The sample clip as 640x480 JPEGs, encoded once by ffmpeg (quality 90, as a webcam client sends). */
export async function sampleJpegs(width = 640, height = 480): Promise<Buffer[]> {
  const src = await VideoFileSource.open(path.join(MEDIA, 'video', 'candidate-ok.mp4'), { width, height, quality: 90 });
  const jpegs: Buffer[] = [];
  for await (const f of src.frames()) jpegs.push(f);
  return jpegs;
}

/** 16 kHz mono speech, raw s16le. */
export const samplePcm = (): Buffer => readFileSync(path.join(MEDIA, 'audio', 'speech-16k-mono.wav')).subarray(44);

/** Frames in one file, each prefixed by its u32 length, so client processes load them without ffmpeg. */
export function saveFrames(file: string, jpegs: Buffer[]): void {
  const parts: Buffer[] = [];
  for (const j of jpegs) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(j.length);
    parts.push(len, j);
  }
  writeFileSync(file, Buffer.concat(parts));
}

export function loadFrames(file: string): Buffer[] {
  const all = readFileSync(file);
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; ) {
    const n = all.readUInt32BE(at);
    out.push(all.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/**
 * Replays the same JPEGs (shared, never copied) as a 15 fps camera for `count` frames. The client pulls the
 * next frame right after sending one, so `firstAt`..`lastAt` spans the first send to the last.
 */
export class MemoryVideo implements VideoSource {
  readonly fps = 15;
  firstAt = 0;
  lastAt = 0;
  constructor(
    private readonly jpegs: Buffer[],
    private readonly count: number,
  ) {}
  async *frames(): AsyncGenerator<Buffer> {
    this.firstAt = performance.now();
    for (let i = 0; i < this.count; i++) yield this.jpegs[i % this.jpegs.length]!;
    this.lastAt = performance.now();
  }
}

/** Replays 16 kHz mono PCM for `seconds`, as a microphone would deliver it. */
export class MemoryAudio implements AudioSource {
  readonly format = { sampleRate: 16000, channels: 1 };
  constructor(
    private readonly pcm: Buffer,
    private readonly seconds: number,
  ) {}
  async *chunks(chunkMs: number): AsyncGenerator<Buffer> {
    const bytes = ((16000 * chunkMs) / 1000) * 2;
    const total = this.seconds * 16000 * 2;
    for (let at = 0; at < total; at += bytes) {
      const off = at % (this.pcm.length - bytes);
      yield this.pcm.subarray(off - (off % 2), off - (off % 2) + bytes);
    }
  }
}

export interface BenchServer {
  proc: ChildProcess;
  pid: number;
  port: number;
  adminSocket: string;
  /** SIGTERM, then the exit code (0 when every recording was finalised). */
  stop(): Promise<number | null>;
}

/** Servers still running, killed if the bench itself dies, so no server outlives it. */
const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach((p) => p.kill('SIGKILL')));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

/**
 * Starts `bin/vigil serve` on a free port and waits until its admin socket answers. Its log goes to our stderr,
 * or nowhere with `logs: 'discard'` (a bench that measures the cost of logging at info, without printing it).
 */
export async function startServer(recordDir: string, args: string[], logs: 'show' | 'discard' = 'show'): Promise<BenchServer> {
  const proc = spawn(path.join(REPO, 'bin', 'vigil'), ['serve', '--port', '0', '--record-dir', recordDir, '--auth', 'none', ...args], {
    stdio: ['ignore', 'ignore', logs === 'show' ? 'inherit' : 'ignore'],
  });
  live.add(proc);
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  const adminSocket = path.join(recordDir, 'vigil.sock');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`vigil serve exited with code ${proc.exitCode} before it answered`);
    try {
      const admin = await AdminClient.connect(adminSocket, 500);
      const st = await admin.status();
      admin.close();
      return {
        proc,
        pid: proc.pid!,
        port: Number(st.listen.split(':').pop()),
        adminSocket,
        stop: () => {
          if (proc.exitCode === null) proc.kill('SIGTERM');
          return exited;
        },
      };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  proc.kill('SIGKILL');
  throw new Error('vigil serve did not answer on its admin socket within 60 s');
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}
