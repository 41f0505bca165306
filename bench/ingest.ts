/**
 * bench/ingest: N candidates (default 1, 8, 32) stream 640x480 JPEG at 15 fps plus 16 kHz mono audio to a real
 * `vigil serve` process for a fixed time. Reports frames/s received and recorded, server CPU and memory, and
 * frames lost (sent but not in the recording). Clients run in this process with the real client code and
 * pre-encoded frames, so the server's cost is what is measured, not ffmpeg's.
 *
 *   node dist/bench/ingest.js [--clients 1,8,32] [--seconds 20]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { AdminClient } from '../src/admin/client';
import { CandidateClient, type AudioSource, type VideoSource } from '../src/client/client';
import { VideoFileSource } from '../src/media/video-file';
import type { SessionRecord } from '../src/server';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const CLIENTS = arg('--clients', '1,8,32').split(',').map(Number);
const SECONDS = Number(arg('--seconds', '20'));
const DETECTORS = arg('--detector', 'none,dnn').split(',');
const REPO = path.resolve(__dirname, '..', '..');
const MEDIA = process.env['VIGIL_MEDIA'] ?? path.resolve(REPO, '..', 'shared', 'media');
const CLK_TCK = 100;

function procStat(pid: number): { cpuS: number; rssMB: number; peakMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS, rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024 };
}

class MemoryVideo implements VideoSource {
  readonly fps = 15;
  constructor(
    private readonly jpegs: Buffer[],
    private readonly count: number,
  ) {}
  async *frames(): AsyncGenerator<Buffer> {
    for (let i = 0; i < this.count; i++) yield this.jpegs[i % this.jpegs.length]!;
  }
}

class MemoryAudio implements AudioSource {
  readonly format = { sampleRate: 16000, channels: 1 };
  constructor(
    private readonly pcm: Buffer,
    private readonly seconds: number,
  ) {}
  async *chunks(chunkMs: number): AsyncGenerator<Buffer> {
    const bytes = (16000 * chunkMs) / 1000 * 2;
    const total = this.seconds * 16000 * 2;
    for (let at = 0; at < total; at += bytes) {
      const off = at % (this.pcm.length - bytes);
      yield this.pcm.subarray(off - (off % 2), off - (off % 2) + bytes);
    }
  }
}

async function startServer(dir: string, detector: string): Promise<{ pid: number; port: number; stop: () => Promise<void> }> {
  const proc = spawn(path.join(REPO, 'bin', 'vigil'), ['serve', '--port', '0', '--record-dir', dir, '--log-level', 'warn', '--detector', detector, '--auth', 'none'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // The listening line is logged at info; with --log-level warn we find the port through the admin socket.

  const sock = path.join(dir, 'vigil.sock');
  for (let i = 0; i < 100; i++) {
    try {
      const admin = await AdminClient.connect(sock, 500);
      const st = await admin.status();
      admin.close();
      const port = Number(st.listen.split(':').pop());
      return {
        pid: proc.pid!,
        port,
        stop: () =>
          new Promise((resolve) => {
            proc.once('exit', () => resolve());
            proc.kill('SIGTERM');
          }),
      };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('server did not start');
}

interface Row {
  detector: string;
  clients: number;
  sent: number;
  recorded: number;
  lost: number;
  fpsPerClient: number;
  recordedPerS: number;
  cpuPct: number;
  rssMB: number;
  rssPerClientMB: number;
  peakMB: number;
  clientFailures: number;
  detectCpuPct: number;
}

/** CPU seconds of a process and its children that have exited (the detector processes, once stopped). */
function treeCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function runCase(detector: string, n: number, jpegs: Buffer[], pcm: Buffer): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-bench-'));
  const server = await startServer(dir, detector);
  const idle = procStat(server.pid);
  const frames = SECONDS * 15;
  const clients = Array.from({ length: n }, (_, i) =>
    new CandidateClient({
      host: '127.0.0.1',
      port: server.port,
      candidateId: `bench-${i}`,
      token: '',
      clientVersion: 'bench',
      video: { source: new MemoryVideo(jpegs, frames), width: 640, height: 480 },
      audio: new MemoryAudio(pcm, SECONDS),
      loop: false,
      print: () => undefined,
      replyTimeoutMs: 60_000,
    }),
  );
  const before = procStat(server.pid);
  const workers = childPids(server.pid);
  const workersBefore = workers.reduce((a, p) => a + treeCpuS(p), 0);
  const t0 = performance.now();
  // Stagger starts over one frame interval, as real candidates do not join in the same millisecond.
  const results = await Promise.all(clients.map(async (c, i) => {
    await new Promise((r) => setTimeout(r, (i * 66) / n));
    return c.run();
  }));
  const wall = (performance.now() - t0) / 1000;
  const after = procStat(server.pid);
  const workersAfter = workers.reduce((a, p) => a + treeCpuS(p), 0);
  await server.stop();
  let recorded = 0;
  for (const id of readdirSync(dir).filter((d) => d.startsWith('bench-'))) {
    for (const s of readdirSync(path.join(dir, id))) {
      recorded += (JSON.parse(readFileSync(path.join(dir, id, s, 'session.json'), 'utf8')) as SessionRecord).frames_written;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const sent = results.reduce((a, r) => a + r.videoFramesSent, 0);
  return {
    detector,
    detectCpuPct: ((workersAfter - workersBefore) / wall) * 100,
    clients: n,
    sent,
    recorded,
    lost: sent - recorded,
    fpsPerClient: recorded / n / SECONDS,
    recordedPerS: recorded / wall,
    cpuPct: ((after.cpuS - before.cpuS) / wall) * 100,
    rssMB: after.rssMB,
    rssPerClientMB: (after.rssMB - idle.rssMB) / n,
    peakMB: after.peakMB,
    clientFailures: results.filter((r) => r.exitCode !== 0).length,
  };
}

async function main(): Promise<void> {
  const src = await VideoFileSource.open(path.join(MEDIA, 'video', 'candidate-ok.mp4'), { width: 640, height: 480, quality: 90 });
  const jpegs: Buffer[] = [];
  for await (const f of src.frames()) jpegs.push(f);
  const pcm = readFileSync(path.join(MEDIA, 'audio', 'speech-16k-mono.wav')).subarray(44);
  const avgKB = jpegs.reduce((a, j) => a + j.length, 0) / jpegs.length / 1024;
  console.log(`bench/ingest: ${cpus().length} x ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  console.log(`each client: 640x480 JPEG ${avgKB.toFixed(1)} KB avg at 15 fps + 16 kHz mono s16 in 40 ms chunks, ${SECONDS} s; clients run in the bench process`);
  console.log('| detection | clients | frames sent | recorded | lost | fps per client | frames/s recorded | server CPU % | detector CPU % | server RSS MB | RSS per client MB | client failures |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const detector of DETECTORS) {
    for (const n of CLIENTS) {
      const r = await runCase(detector, n, jpegs, pcm);
      console.log(
        `| ${r.detector} | ${r.clients} | ${r.sent} | ${r.recorded} | ${r.lost} | ${r.fpsPerClient.toFixed(1)} | ${r.recordedPerS.toFixed(0)} | ${r.cpuPct.toFixed(0)} | ${r.detector === 'none' ? '-' : r.detectCpuPct.toFixed(0)} | ${r.rssMB.toFixed(0)} | ${r.rssPerClientMB.toFixed(2)} | ${r.clientFailures} |`,
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
