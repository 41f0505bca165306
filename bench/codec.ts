/**
 * bench/codec: what H.264 + Opus costs and buys, per sample video at 640x480, 15 fps, against the JPEG + PCM path.
 *
 * For each sample video (with 16 kHz speech): the client's real encoders (libx264 with snapshots, libopus; src/media)
 * run once as fast as they can, their CPU taken from /proc and divided by the media's duration (= the share of one
 * core at real time); the wire bit rate is every payload the client sends plus 6 bytes of framing a message; the
 * recording is written by the real MkvWriter and its size scaled to an hour; SSIM compares the recording, decoded,
 * with the source scaled the same way (ffmpeg's ssim filter). Then the two ways to analyse faces: the server
 * decoding every candidate's H.264 (ffmpeg, one thread, scaled to 320x240 at 5 fps for the detector: it must
 * decode every frame because P-frames depend on the frames before) against snapshots (nothing to decode on the
 * server beyond the JPEG the detector decodes anyway; they cost wire bits and a little client CPU).
 *
 *   node dist/bench/codec.js [--snapshot-ms 250]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { analyzeJpeg, createDetector, type FaceDetector } from '../src/detect/analyze';
import { loadOpenCV, type CV } from '../src/detect/opencv';
import { DEFAULT_THRESHOLDS } from '../src/detect/verdict';
import { H264Encoder, h264EncoderArgs } from '../src/media/h264-encoder';
import { MkvWriter } from '../src/media/mkv-writer';
import { OPUS_ARGS, OpusEncoder } from '../src/media/opus-encoder';
import { OpusWasmDecoder } from '../src/media/opus-wasm';
import { VideoFileSource } from '../src/media/video-file';
import { WavFileSource } from '../src/media/wav-file';
import { MEDIA, fmt, intArg, machineInfo, machineLine, table, writeResult } from './lib/report';

const SNAPSHOT_MS = intArg('--snapshot-ms', 250);
const VIDEOS = ['candidate-ok.mp4', 'candidate-incidents.mp4', 'megamind-clip.mp4'];
const FRAMING = 6;

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve(err) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`))));
  });
}

/** ffmpeg's own -benchmark figure: user + system CPU seconds of the whole run. */
async function ffmpegCpu(args: string[]): Promise<number> {
  const err = await run('ffmpeg', ['-hide_banner', '-y', '-benchmark', ...args]);
  const m = /bench: utime=([\d.]+)s stime=([\d.]+)s/.exec(err);
  if (!m) throw new Error(`no -benchmark line from ffmpeg: ${err.slice(-300)}`);
  return Number(m[1]) + Number(m[2]);
}

/**
 * CPU seconds (user + system, this process) to decode `packets` as the server does for voice activity: the
 * WebAssembly decoder at 16 kHz mono, in steady state: a first pass over the same packets (not timed) loads the
 * module and lets V8 tier its code up, as a server does once, early in its first session.
 */
async function vadDecodeCpu(head: Buffer, packets: Buffer[]): Promise<number> {
  const decode = async (list: Buffer[]): Promise<void> => {
    const d = new OpusWasmDecoder(head, () => undefined, (err) => {
      throw err;
    }, 16000);
    for (const p of list) d.push(0, p);
    await d.drain();
  };
  await decode(packets);
  const before = process.cpuUsage();
  await decode(packets);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

interface Row {
  video: string;
  seconds: number;
  h264Kbps: number;
  snapshotKbps: number;
  opusKbps: number;
  wireKbps: number;
  mjpegWireKbps: number;
  mbPerHour: number;
  ssim: number;
  x264Cpu: number;
  opusCpu: number;
  decodeCpu: number;
  opusDecodeCpu: number;
  snapshotBytes: number;
  snaps: Buffer[];
}

async function measure(video: string, dir: string): Promise<Row> {
  const file = path.join(MEDIA, 'video', video);
  const src = await VideoFileSource.open(file, { width: 640, height: 480, fps: 15, quality: 80 });
  const encOpts = { input: src.ffmpegInput, width: 640, height: 480, fps: 15, loop: false, snapshotIntervalMs: SNAPSHOT_MS, snapshotWidth: 320, snapshotHeight: 240 };
  const enc = new H264Encoder(encOpts);
  const frames: Array<{ data: Buffer; keyframe: boolean; avcC: Buffer }> = [];
  const snaps: Buffer[] = [];
  await Promise.all([(async () => { for await (const f of enc.frames()) frames.push(f); })(), (async () => { for await (const s of enc.snapshots()) snaps.push(s); })()]);
  enc.close();
  // CPU from ffmpeg's -benchmark on the very same command line (sampling /proc misses a short run's end).
  const x264Cpu = await ffmpegCpu(h264EncoderArgs(encOpts, { video: '/dev/null', snapshots: '/dev/null' }).filter((a) => a !== '-loglevel' && a !== 'error'));
  const seconds = frames.length / 15;
  const wav = await WavFileSource.open(path.join(MEDIA, 'audio', 'speech-16k-mono.wav'));
  // The speech file is shorter than some videos: loop it to the video's length, as a talking candidate would.
  const pcm = async function* (): AsyncGenerator<Buffer> {
    let sent = 0;
    while (sent < seconds * 16000 * 2) for await (const c of wav.chunks(40)) if ((sent += c.length) <= seconds * 16000 * 2) yield c;
  };
  const opus = new OpusEncoder(pcm(), wav.format);
  const packets: Array<{ packet: Buffer; samples: number }> = [];
  let head: Buffer | null = null;
  for await (const p of opus.packets()) if (p.type === 'head') head = p.head; else packets.push(p);
  opus.close();
  const opusCpu = await ffmpegCpu(['-stream_loop', '-1', '-i', path.join(MEDIA, 'audio', 'speech-16k-mono.wav'), '-t', String(seconds), ...OPUS_ARGS, '-f', 'ogg', '-y', '/dev/null']);

  const rec = path.join(dir, `${video}.mkv`);
  const w = await MkvWriter.create(rec, { video: { codec: 'h264', width: 640, height: 480 }, audio: { codec: 'opus', sampleRate: 48000, channels: 1 }, title: video, startedAt: new Date(), writingApp: 'bench' });
  w.setCodecPrivate('video', frames[0]!.avcC);
  w.setCodecPrivate('audio', head!, 6_500_000);
  let aMs = 0;
  let ai = 0;
  frames.forEach((f, i) => {
    for (; ai < packets.length && aMs <= (i * 1000) / 15; ai++) {
      w.writeOpus(aMs, packets[ai]!.packet, packets[ai]!.samples);
      aMs += packets[ai]!.samples / 48;
    }
    w.writeVideo((i * 1000) / 15, f.data, 1000 / 15, f.keyframe);
  });
  for (; ai < packets.length; ai++, aMs += 20) w.writeOpus(aMs, packets[ai]!.packet, packets[ai]!.samples);
  await w.finalize();

  const ssimLog = await run('ffmpeg', ['-hide_banner', '-i', rec, '-i', file, '-lavfi', '[1:v]scale=640:480,fps=15,format=yuv420p[ref];[0:v]format=yuv420p[rec];[rec][ref]ssim', '-f', 'null', '-']);
  const ssim = Number(/SSIM .*All:([\d.]+)/.exec(ssimLog)?.[1] ?? NaN);
  // The server-decode alternative: every frame decoded, then scaled for the detector at its 5 analyses a second.
  const decodeCpu = await ffmpegCpu(['-threads', '1', '-i', rec, '-an', '-vf', 'fps=5,scale=320:240', '-pix_fmt', 'bgr24', '-f', 'rawvideo', '-y', '/dev/null']);
  // What the server does spend per Opus candidate: its packets decoded to 16 kHz mono for voice activity.
  const opusDecodeCpu = await vadDecodeCpu(head!, packets.map((p) => p.packet));
  // Today's path for comparison: 640x480 JPEG at the client's default quality 80, plus 16 kHz PCM.
  let jpegWire = 0;
  for await (const j of src.frames()) jpegWire += j.length + 12 + FRAMING;
  const kbps = (bytes: number): number => (bytes * 8) / 1000 / seconds;
  const h264Bytes = frames.reduce((n, f) => n + f.data.length + 13 + FRAMING, 0);
  const snapBytes = snaps.reduce((n, s) => n + s.length + 8 + FRAMING, 0);
  const opusBytes = packets.reduce((n, p) => n + p.packet.length + 14 + FRAMING, 0);
  const pcmKbps = 256 + (25 * (12 + FRAMING) * 8) / 1000;
  return {
    video,
    seconds,
    h264Kbps: kbps(h264Bytes),
    snapshotKbps: kbps(snapBytes),
    opusKbps: kbps(opusBytes),
    wireKbps: kbps(h264Bytes + snapBytes + opusBytes),
    mjpegWireKbps: kbps(jpegWire) + pcmKbps,
    mbPerHour: (statSync(rec).size / seconds) * 3600 / 1e6,
    ssim,
    x264Cpu: x264Cpu / seconds,
    opusCpu: opusCpu / seconds,
    decodeCpu: decodeCpu / seconds,
    opusDecodeCpu: opusDecodeCpu / seconds,
    snapshotBytes: snaps.length ? snapBytes / snaps.length : 0,
    snaps,
  };
}

/** Verdicts on the snapshots by labelled segment, as the server's detector would give them. */
function snapshotAccuracy(cv: CV, detector: FaceDetector, rows: Row[]): Promise<Array<Array<string | number>>> {
  const segs = readFileSync(path.join(MEDIA, 'video', 'segments.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const kinds = ['ok', 'no_face', 'misaligned', 'multiple_faces'];
  return (async () => {
    const right: Record<string, [number, number]> = Object.fromEntries(kinds.map((k) => [k, [0, 0]]));
    for (const r of rows) {
      for (const [i, jpeg] of r.snaps.entries()) {
        const t = (i * SNAPSHOT_MS) / 1000;
        const seg = segs.find((s) => s[0] === r.video && t >= Number(s[1]) && t < Number(s[2]));
        if (!seg) continue;
        const expected = seg[3] === 'face' ? 'ok' : seg[3]!;
        const v = await analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS);
        right[expected]![1]++;
        if (v.verdict === expected) right[expected]![0]++;
      }
    }
    return [['320x240 snapshots', ...kinds.map((k) => `${fmt((100 * right[k]![0]) / Math.max(1, right[k]![1]), 1)} % (${right[k]![0]}/${right[k]![1]})`)]];
  })();
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-bench-codec-'));
  const rows: Row[] = [];
  try {
    for (const v of VIDEOS) rows.push(await measure(v, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const mean = (f: (r: Row) => number): number => rows.reduce((n, r) => n + f(r), 0) / rows.length;
  const header = ['video', 's', 'H.264 kbit/s', 'snapshots kbit/s', 'Opus kbit/s', 'wire kbit/s (all)', 'JPEG+PCM wire kbit/s', 'recording MB/hour', 'SSIM', 'x264 + snapshots CPU % (client)', 'Opus CPU % (client)', 'server: H.264 decode CPU % per candidate (not done)', 'server: Opus decode for speech CPU %'];
  const cells = (r: Row | null): Array<string | number> => {
    const g = (f: (r: Row) => number): number => (r ? f(r) : mean(f));
    return [r ? r.video : 'mean', fmt(g((x) => x.seconds), 0), fmt(g((x) => x.h264Kbps)), fmt(g((x) => x.snapshotKbps)), fmt(g((x) => x.opusKbps)), fmt(g((x) => x.wireKbps)), fmt(g((x) => x.mjpegWireKbps)),
      fmt(g((x) => x.mbPerHour)), fmt(g((x) => x.ssim), 3), fmt(g((x) => x.x264Cpu * 100), 1), fmt(g((x) => x.opusCpu * 100), 1), fmt(g((x) => x.decodeCpu * 100), 1), fmt(g((x) => x.opusDecodeCpu * 100), 2)];
  };
  const decode = mean((r) => r.decodeCpu);
  const cv = loadOpenCV();
  const detector = await createDetector(cv, { detector: 'dnn', thresholds: DEFAULT_THRESHOLDS });
  const accuracy = await snapshotAccuracy(cv, detector, rows);
  const notes = [
    `Client encoders as \`vigil client --codec h264\` runs them (src/media/h264-encoder.ts, opus-encoder.ts), 640x480 at 15 fps, ` +
      `snapshots 320x240 every ${SNAPSHOT_MS} ms (${fmt(mean((r) => r.snapshotBytes) / 1024, 1)} KB each), speech at 24 kbit/s. CPU is a share of one core at real time.`,
    '',
    table(header, [...rows.map(cells), cells(null)], header.map((_, i) => i > 0)),
    '',
    `Face analysis on H.264: decoding on the server costs ${fmt(decode * 100, 1)} % of a core per candidate (every frame must be ` +
      `decoded, and scaled for the detector), so ${fmt(decode * 100, 2)} cores for 100 candidates, taken from the two cores ` +
      `the detectors need; snapshots cost the server no decoding beyond the small JPEG the detector reads anyway (its cost per ` +
      `frame is about the same at 320x240 as at 640x480, see bench/detect), and cost ${fmt(mean((r) => r.snapshotKbps), 0)} kbit/s of the wire budget ` +
      `and a share of the client's encoder CPU above. Snapshots are the choice. The server does decode each Opus ` +
      `candidate's audio, to 16 kHz for voice activity: ${fmt(mean((r) => r.opusDecodeCpu) * 100, 2)} % of a core each ` +
      `(libopus in WebAssembly in the server's decoder thread, steady state; the ffmpeg child per candidate it replaced cost ` +
      `about 0.3 % each in bench/ingest, process and pipes included).`,
    '',
    'Detector (dnn) verdicts on the snapshots the client sends, by labelled segment of the sample videos (per snapshot, before ' +
      'the incident debounce; compare bench/detect\'s per-frame figures at 640x480 and 320x240, where the unshifted ' +
      '"misaligned" segment is as hard):',
    '',
    table(['frames', 'ok', 'no_face', 'misaligned', 'multiple_faces'], accuracy, [false, true, true, true, true]),
  ];
  console.log(`bench/codec: ${machineLine(machine)}\n\n${notes.join('\n')}`);
  console.error(`bench/codec: wrote ${writeResult('codec', machine, notes.join('\n'))}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
