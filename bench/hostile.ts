/**
 * bench/hostile: how many hostile connections a second the server sheds while 10 real candidates stream, and
 * whether those candidates lose anything; RSS over time. The attackers (random bytes, 4 GB frame headers,
 * HELLO floods) come from many loopback addresses, as many connections in flight as --concurrency allows.
 *
 *   node dist/bench/hostile.js [--seconds 20] [--concurrency 64]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { AdminClient } from '../src/admin/client';
import { CandidateClient, type AudioSource, type VideoSource } from '../src/client/client';
import { VideoFileSource } from '../src/media/video-file';
import { PROTOCOL_VERSION, encode } from '../src/protocol';
import type { SessionRecord } from '../src/server';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('--seconds', '20'));
const CONCURRENCY = Number(arg('--concurrency', '64'));
const REPO = path.resolve(__dirname, '..', '..');
const MEDIA = process.env['VIGIL_MEDIA'] ?? path.resolve(REPO, '..', 'shared', 'media');

const rssMB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

class LoopVideo implements VideoSource {
  readonly fps = 15;
  constructor(private readonly jpegs: Buffer[], private readonly count: number) {}
  async *frames(): AsyncGenerator<Buffer> {
    for (let i = 0; i < this.count; i++) yield this.jpegs[i % this.jpegs.length]!;
  }
}

class SilentAudio implements AudioSource {
  readonly format = { sampleRate: 16000, channels: 1 };
  constructor(private readonly seconds: number) {}
  async *chunks(chunkMs: number): AsyncGenerator<Buffer> {
    const bytes = (16000 * chunkMs) / 1000 * 2;
    for (let at = 0; at < this.seconds * 32000; at += bytes) yield Buffer.alloc(bytes);
  }
}

const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff));
const hello = (id: string): Buffer =>
  encode({ type: 'hello', version: PROTOCOL_VERSION, candidateId: id, token: '', clientVersion: 'hostile', video: null, audio: { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 } });
const PAYLOADS = [junk, Buffer.from('5603ffffffff', 'hex'), Buffer.concat(Array.from({ length: 200 }, (_, i) => hello(`flood-${i % 2}`)))];

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-hostile-'));
  const proc = spawn(path.join(REPO, 'bin', 'vigil'), ['serve', '--port', '0', '--record-dir', dir, '--log-level', 'info', '--auth', 'none', '--detector', 'none'], { stdio: 'ignore' });
  let admin: AdminClient | null = null;
  for (let i = 0; i < 100 && !admin; i++) {
    admin = await AdminClient.connect(path.join(dir, 'vigil.sock'), 500).catch(async () => (await new Promise((r) => setTimeout(r, 100)), null));
  }
  const port = Number((await admin!.status()).listen.split(':').pop());
  const src = await VideoFileSource.open(path.join(MEDIA, 'video', 'candidate-ok.mp4'), { width: 640, height: 480, quality: 90 });
  const jpegs: Buffer[] = [];
  for await (const f of src.frames()) jpegs.push(f);

  const candidates = Array.from({ length: 10 }, (_, i) =>
    new CandidateClient({
      host: '127.0.0.1', port, candidateId: `real-${i}`, token: '', clientVersion: 'bench',
      video: { source: new LoopVideo(jpegs, SECONDS * 15), width: 640, height: 480 },
      audio: new SilentAudio(SECONDS), loop: false, print: () => undefined, replyTimeoutMs: 60_000,
    }).run(),
  );

  let shed = 0;
  let opened = 0;
  let stop = false;
  const perSecond: number[] = [];
  const rss: number[] = [];
  const attacker = async (lane: number): Promise<void> => {
    while (!stop) {
      const n = opened++;
      await new Promise<void>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: `127.1.${Math.floor(n / 250) % 250}.${1 + (n % 250)}` });
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        s.on('connect', () => s.write(PAYLOADS[(n + lane) % PAYLOADS.length]!));
        s.on('close', () => {
          shed++;
          resolve();
        });
      });
    }
  };
  const t0 = performance.now();
  let last = 0;
  const sampler = setInterval(() => {
    perSecond.push(shed - last);
    last = shed;
    rss.push(rssMB(proc.pid!));
  }, 1000);
  const lanes = Array.from({ length: CONCURRENCY }, (_, i) => attacker(i));
  const results = await Promise.all(candidates);
  stop = true;
  await Promise.all(lanes);
  clearInterval(sampler);
  const wall = (performance.now() - t0) / 1000;
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
  admin!.close();
  let recorded = 0;
  for (const id of readdirSync(dir).filter((d) => d.startsWith('real-'))) {
    for (const s of readdirSync(path.join(dir, id))) recorded += (JSON.parse(readFileSync(path.join(dir, id, s, 'session.json'), 'utf8')) as SessionRecord).frames_written;
  }
  rmSync(dir, { recursive: true, force: true });
  const sent = results.reduce((a, r) => a + r.videoFramesSent, 0);
  const sorted = [...perSecond].sort((a, b) => a - b);
  console.log(`bench/hostile: ${cpus().length} x ${cpus()[0]?.model.trim()}, node ${process.version}; ${SECONDS} s, ${CONCURRENCY} hostile connections in flight, attackers and candidates in this process`);
  console.log('| candidates | frames sent | recorded | lost | candidate failures | hostile shed | shed/s mean | shed/s median | RSS start MB | RSS max MB | RSS end MB |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  console.log(`| 10 | ${sent} | ${recorded} | ${sent - recorded} | ${results.filter((r) => r.exitCode !== 0).length} | ${shed} | ${(shed / wall).toFixed(0)} | ${sorted[Math.floor(sorted.length / 2)] ?? 0} | ${rss[0]?.toFixed(0)} | ${Math.max(...rss).toFixed(0)} | ${rss[rss.length - 1]?.toFixed(0)} |`);
  console.log(`RSS MB each second: ${rss.map((r) => r.toFixed(0)).join(' ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
