/**
 * bench/hostile: how many hostile connections a second the server sheds while 10 real candidates stream, and
 * whether those candidates lose anything (counted in their recordings with ffprobe); the server's RSS over time
 * and its peak (VmHWM). The attackers (random bytes, 4 GB frame headers, HELLO floods) come from many loopback
 * addresses, as many connections in flight as --concurrency allows. Detection is off unless --detector says
 * otherwise, and the table says which. Fails (exit 1, no results written) if a candidate loses anything.
 *
 *   node dist/bench/hostile.js [--seconds 20] [--concurrency 64] [--detector none|dnn|haar]
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CandidateClient, type AudioSource } from '../src/client/client';
import { probe } from '../src/media/probe';
import { PROTOCOL_VERSION, encode } from '../src/protocol';
import { MemoryVideo, median, sampleJpegs, startServer } from './lib/media';
import { CpuMeter, rssMB } from './lib/proc';
import { fmt, intArg, machineInfo, machineLine, strArg, table, writeResult } from './lib/report';

const SECONDS = intArg('--seconds', 20);
const CONCURRENCY = intArg('--concurrency', 64);
const DETECTOR = strArg('--detector', 'none');
const CANDIDATES = 10;

class SilentAudio implements AudioSource {
  readonly format = { sampleRate: 16000, channels: 1 };
  constructor(private readonly seconds: number) {}
  async *chunks(chunkMs: number): AsyncGenerator<Buffer> {
    const bytes = ((16000 * chunkMs) / 1000) * 2;
    for (let at = 0; at < this.seconds * 32000; at += bytes) yield Buffer.alloc(bytes);
  }
}

const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff));
const hello = (id: string): Buffer =>
  encode({ type: 'hello', version: PROTOCOL_VERSION, candidateId: id, token: '', clientVersion: 'hostile', video: null, audio: { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 } });
const PAYLOADS = [junk, Buffer.from('5603ffffffff', 'hex'), Buffer.concat(Array.from({ length: 200 }, (_, i) => hello(`flood-${i % 2}`)))];

async function main(): Promise<void> {
  const machine = machineInfo();
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-hostile-'));
  const server = await startServer(dir, ['--log-level', 'info', '--detector', DETECTOR], 'discard');
  const port = server.port;
  const jpegs = await sampleJpegs();

  const candidates = Array.from({ length: CANDIDATES }, (_, i) =>
    new CandidateClient({
      host: '127.0.0.1', port, candidateId: `real-${i}`, token: '', clientVersion: 'bench',
      video: { source: new MemoryVideo(jpegs, SECONDS * 15), width: 640, height: 480 },
      audio: new SilentAudio(SECONDS), loop: false, print: () => undefined, replyTimeoutMs: 60_000,
    }).run(),
  );

  let shed = 0;
  let opened = 0;
  let stop = false;
  const perSecond: number[] = [];
  const rss: number[] = [];
  const meter = new CpuMeter(server.pid);
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
    rss.push(rssMB(server.pid));
    meter.sample();
  }, 1000);
  const lanes = Array.from({ length: CONCURRENCY }, (_, i) => attacker(i));
  const results = await Promise.all(candidates);
  stop = true;
  await Promise.all(lanes);
  clearInterval(sampler);
  meter.sample();
  const cpu = meter.result();
  const wall = (performance.now() - t0) / 1000;
  const serverExit = await server.stop();
  let recorded = 0;
  for (const id of readdirSync(dir).filter((d) => d.startsWith('real-'))) {
    for (const s of readdirSync(path.join(dir, id))) {
      const info = await probe(path.join(dir, id, s, 'recording.mkv'), { countPackets: true, timeoutMs: 120_000 });
      recorded += Number(info.streams.find((st) => st.codec_type === 'video')?.nb_read_packets ?? 0);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const sent = results.reduce((a, r) => a + r.videoFramesSent, 0);
  const failures = results.filter((r) => r.exitCode !== 0).length;
  const detection = DETECTOR === 'none' ? 'off' : DETECTOR;
  const intro =
    `${CANDIDATES} candidates stream 640x480 JPEG at 15 fps with audio for ${SECONDS} s while hostile connections (random bytes, ` +
    `4 GB frame headers, HELLO floods; ${CONCURRENCY} in flight from many loopback addresses) are shed; detection ${detection}, ` +
    `server logging at \`info\`. Attackers and candidates share the bench process and the cores with the server. ` +
    `Frames "recorded" are counted in the recordings with ffprobe.`;
  const body = table(
    ['detection', 'candidates', 'frames sent', 'recorded (ffprobe)', 'lost', 'candidate failures', 'hostile shed', 'shed/s mean', 'shed/s median', 'server CPU %', 'RSS start MB', 'RSS end MB', 'server peak RSS MB'],
    [[detection, CANDIDATES, sent, recorded, sent - recorded, failures, fmt(shed), fmt(shed / wall), fmt(median(perSecond)), fmt(cpu.mainPct), fmt(rss[0] ?? 0), fmt(rss[rss.length - 1] ?? 0), fmt(cpu.peakRssMB)]],
    [false, true, true, true, true, true, true, true, true, true, true, true, true],
  );
  const rssLine = `RSS over the ${SECONDS} s (MB, once a second): ${rss.map((r) => r.toFixed(0)).join(' ')}.`;
  console.log(`bench/hostile: ${machineLine(machine)}\n${intro}\n${body}\n${rssLine}`);
  if (sent !== recorded || failures > 0 || serverExit !== 0) {
    console.error(`bench/hostile: FAILED: ${sent - recorded} frames lost, ${failures} candidate(s) failed, server exit ${serverExit}. Results not written.`);
    process.exitCode = 1;
    return;
  }
  writeResult('hostile', machine, `${intro}\n\n${body}\n\n${rssLine}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
