/**
 * bench/ingest: N candidates (default 1, 8, 32, 64, 100) stream 640x480 JPEG at 15 fps plus 16 kHz mono audio
 * to a real `vigil serve` process for 30 s, once without detection and once with the default DNN detection.
 *
 * Measured from outside the server: frames and audio in the recordings counted with ffprobe (not the server's
 * counters), fps per client from frames recorded over the wall time the client streamed, CPU of the server
 * and of its detector processes from /proc (found by parent pid), the server's peak RSS (VmHWM). From the
 * server's `status`: analyses and skips per candidate per second and the verdict latency (frame arrival to
 * verdict applied and VERDICT written). The candidates are the real client code in two child processes,
 * replaying JPEGs encoded once, so they fit beside the server on two cores; their CPU is printed too.
 *
 * A run that loses a frame or a second of audio, or whose clients or server fail, makes the bench exit 1
 * without writing its results: no table over lost data.
 *
 *   node dist/bench/ingest.js [--clients 1,8,32,64,100] [--seconds 30] [--detector none,dnn]
 *                             [--client-procs 2] [--require-target] [--no-results] [--codec mjpeg|h264]
 *
 * --codec h264: the candidates send H.264 + Opus + 320x240 snapshots (protocol version 2), encoded once by the
 * client's real encoders and replayed (bench/lib/encoded.ts); results go to ingest-h264.md.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { AdminClient } from '../src/admin/client';
import { packetTimes, probe } from '../src/media/probe';
import type { CandidateStatus } from '../src/protocol';
import type { ClientOutcome, ClientsDone, ClientsJob } from './ingest-clients';
import { encodeSample, saveEncoded } from './lib/encoded';
import { median, sampleJpegs, samplePcm, saveFrames, startServer } from './lib/media';
import { CpuMeter, cpuSeconds } from './lib/proc';
import { fmt, intArg, machineInfo, machineLine, strArg, table, writeResult } from './lib/report';

const CLIENTS = strArg('--clients', '1,8,32,64,100').split(',').map(Number);
const SECONDS = intArg('--seconds', 30);
const DETECTORS = strArg('--detector', 'none,dnn').split(',');
const CLIENT_PROCS = intArg('--client-procs', 2);
const REQUIRE_TARGET = process.argv.includes('--require-target');
const WRITE_RESULTS = !process.argv.includes('--no-results');
const CODEC = strArg('--codec', 'mjpeg');
/** Issue 10's target, checked on the largest run with detection. */
const TARGET = { minAnalysesPerS: 3, verdictP99Ms: 500 };
/** Status samples before a candidate has streamed this long are warm-up, not steady state. */
const WARMUP_S = 3;

interface Sample {
  analyses: number;
  /** Of the analyses: the full cascade, the quick check, and frames the motion gate answered. */
  full: number;
  quick: number;
  gated: number;
  skipped: number;
  connectedS: number;
}

interface CandidateTrace {
  first: Sample | null;
  last: Sample | null;
  status: CandidateStatus | null;
}

interface Run {
  detector: string;
  clients: number;
  framesSent: number;
  framesRecorded: number;
  lostFrames: number;
  audioSent: number;
  audioRecorded: number;
  fpsMin: number;
  fpsMedian: number;
  analysesMin: number;
  analysesMedian: number;
  /** Medians per candidate per second of each kind of analysis (Sample). */
  mixMedian: { full: number; quick: number; gated: number };
  skippedMedian: number;
  /** Analyses that failed (detector error, crash or timeout), all candidates together. */
  analysesFailed: number;
  latencyP50: number | null;
  latencyP99: number | null;
  changeP99: number | null;
  serverCpu: number;
  detectorCpu: number;
  detectors: number;
  /** Other children of the server: ffmpeg muxing the incident subtitles into each recording as its session ends. */
  otherCpu: number;
  clientCpu: number;
  /** Times clients lost the connection and resumed (the server dropped them, e.g. idle_timeout when starved). */
  reconnects: number;
  serverPeakMB: number;
  detectorRssMB: number;
  statusMaxMs: number;
  statusTimeouts: number;
  loadMax: number;
  /** Per candidate, median: bytes the server received over the time connected, and the recording's size per hour. */
  wireKbps: number;
  mbPerHour: number;
  failures: string[];
}

const sampleOf = (c: CandidateStatus): Sample => ({
  analyses: c.analyses + c.analysis_gated + c.analysis_quick,
  full: c.analyses,
  quick: c.analysis_quick,
  gated: c.analysis_gated,
  skipped: c.analysis_skipped,
  connectedS: c.connected_s,
});

/** What polling `status` saw of the server's responsiveness: a slow answer means its event loop was stalled. */
interface StatusHealth {
  maxReplyMs: number;
  timeouts: number;
  /** The machine's 1-minute load average, sampled with each status: how much else wanted the cores. */
  loads: number[];
}

/**
 * Polls `status` once a second: per candidate the first steady-state sample and the latest one. A status that
 * does not come within 20 s is counted and asked again, never fatal: the bench reports it.
 */
async function traceStatus(adminSocket: string, traces: Map<string, CandidateTrace>, meter: CpuMeter, stop: AbortSignal, health: StatusHealth): Promise<void> {
  let admin: AdminClient | null = null;
  while (!stop.aborted) {
    meter.sample();
    health.loads.push(loadavg()[0]!);
    const asked = performance.now();
    try {
      admin ??= await AdminClient.connect(adminSocket, 20_000);
      const status = await admin.status();
      health.maxReplyMs = Math.max(health.maxReplyMs, performance.now() - asked);
      for (const c of status.candidates) {
        const t = traces.get(c.id) ?? { first: null, last: null, status: null };
        if (c.connected_s >= WARMUP_S) {
          t.first ??= sampleOf(c);
          t.last = sampleOf(c);
          t.status = c;
        }
        traces.set(c.id, t);
      }
    } catch {
      health.timeouts++;
      admin?.close();
      admin = null;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  admin?.close();
}

function runClients(job: ClientsJob): { pid: number; done: Promise<ClientOutcome[]> } {
  const child = fork(path.join(__dirname, 'ingest-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const done = new Promise<ClientOutcome[]>((resolve, reject) => {
    let outcomes: ClientOutcome[] | null = null;
    child.once('message', (m) => (outcomes = (m as ClientsDone).outcomes));
    child.once('exit', (code) => (outcomes ? resolve(outcomes) : reject(new Error(`client process exited with code ${code} before reporting`))));
  });
  child.send(job);
  return { pid: child.pid!, done };
}

/** ffprobe's count of video packets and the audio seconds its packets cover, per candidate id. */
async function recordedMedia(dir: string, ids: string[]): Promise<Map<string, { frames: number; audioS: number; sessions: number; bytes: number }>> {
  const out = new Map<string, { frames: number; audioS: number; sessions: number; bytes: number }>();
  const queue = [...ids];
  const worker = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const entry = { frames: 0, audioS: 0, sessions: 0, bytes: 0 };
      for (const s of readdirSync(path.join(dir, id))) {
        const file = path.join(dir, id, s, 'recording.mkv');
        const info = await probe(file, { countPackets: true, timeoutMs: 120_000 });
        entry.frames += Number(info.streams.find((st) => st.codec_type === 'video')?.nb_read_packets ?? 0);
        entry.audioS += (await packetTimes(file, 'a', 120_000))?.duration ?? 0;
        entry.sessions++;
        entry.bytes += statSync(file).size;
      }
      out.set(id, entry);
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

async function runCase(detector: string, n: number, framesFile: string, pcmFile: string, encodedFile?: string): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-bench-ingest-'));
  // All bench candidates come from 127.0.0.1, so the per-address handshake limit is raised to let them join at once.
  const server = await startServer(dir, ['--log-level', 'warn', '--detector', detector, '--max-pending-per-ip', String(Math.max(16, n))]);
  const ids = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
  const procs = Math.min(CLIENT_PROCS, n);
  const meter = new CpuMeter(server.pid);
  const traces = new Map<string, CandidateTrace>();
  const stop = new AbortController();
  const health: StatusHealth = { maxReplyMs: 0, timeouts: 0, loads: [] };
  const tracing = traceStatus(server.adminSocket, traces, meter, stop.signal, health);
  const jobs = Array.from({ length: procs }, (_, p) =>
    runClients({ port: server.port, ids: ids.filter((_, i) => i % procs === p), seconds: SECONDS, framesFile, pcmFile, staggerMs: 2_000, ...(encodedFile ? { encodedFile } : {}) }),
  );
  const clientCpu0 = jobs.map((j) => cpuSeconds(j.pid) ?? 0);
  const t0 = performance.now();
  // Client CPU is read just before each process exits (it reports, then exits), so sample while they run.
  const clientCpu = [...clientCpu0];
  const clientSampler = setInterval(() => jobs.forEach((j, i) => (clientCpu[i] = cpuSeconds(j.pid) ?? clientCpu[i]!)), 500);
  let outcomes: ClientOutcome[];
  try {
    outcomes = (await Promise.all(jobs.map((j) => j.done))).flat();
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    clearInterval(clientSampler);
    stop.abort();
    await tracing;
  }
  const wall = (performance.now() - t0) / 1000;
  meter.sample();
  const cpu = meter.result();
  const serverExit = await server.stop();
  const recorded = await recordedMedia(dir, ids);
  rmSync(dir, { recursive: true, force: true });

  const failures: string[] = [];
  if (serverExit !== 0) failures.push(`the server exited with code ${serverExit}`);
  let lostFrames = 0;
  const fps: number[] = [];
  for (const o of outcomes) {
    const rec = recorded.get(o.id) ?? { frames: 0, audioS: 0, sessions: 0, bytes: 0 };
    if (o.exitCode !== 0) failures.push(`${o.id}: client exit ${o.exitCode} (${o.reason})`);
    if (rec.sessions !== 1) failures.push(`${o.id}: ${rec.sessions} recordings instead of one`);
    if (rec.frames !== o.videoFramesSent) {
      lostFrames += Math.max(0, o.videoFramesSent - rec.frames);
      failures.push(`${o.id}: sent ${o.videoFramesSent} frames, the recording holds ${rec.frames}`);
    }
    if (Math.abs(rec.audioS - o.audioSecondsSent) > 0.05) failures.push(`${o.id}: sent ${o.audioSecondsSent.toFixed(2)} s of audio, the recording holds ${rec.audioS.toFixed(2)} s`);
    if (o.lost > 0) failures.push(`${o.id}: the client lost ${o.lost} captured messages`);
    fps.push(o.videoS > 0 ? (rec.frames - 1) / o.videoS : 0);
  }
  const analyses: number[] = [];
  const skipped: number[] = [];
  const mix = { full: [] as number[], quick: [] as number[], gated: [] as number[] };
  const p50s: number[] = [];
  const p99s: number[] = [];
  const change99s: number[] = [];
  for (const id of ids) {
    const t = traces.get(id);
    const span = t?.first && t.last ? t.last.connectedS - t.first.connectedS : 0;
    analyses.push(span > 0 ? (t!.last!.analyses - t!.first!.analyses) / span : 0);
    skipped.push(span > 0 ? (t!.last!.skipped - t!.first!.skipped) / span : 0);
    for (const k of ['full', 'quick', 'gated'] as const) mix[k].push(span > 0 ? (t!.last![k] - t!.first![k]) / span : 0);
    if (t?.status?.verdict_latency_ms) {
      p50s.push(t.status.verdict_latency_ms.p50);
      p99s.push(t.status.verdict_latency_ms.p99);
    }
    if (t?.status?.change_latency_ms) change99s.push(t.status.change_latency_ms.p99);
  }
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  return {
    detector,
    clients: n,
    framesSent: sum(outcomes.map((o) => o.videoFramesSent)),
    framesRecorded: sum([...recorded.values()].map((r) => r.frames)),
    lostFrames,
    audioSent: sum(outcomes.map((o) => o.audioSecondsSent)),
    audioRecorded: sum([...recorded.values()].map((r) => r.audioS)),
    fpsMin: Math.min(...fps),
    fpsMedian: median(fps),
    analysesMin: Math.min(...analyses),
    analysesMedian: median(analyses),
    mixMedian: { full: median(mix.full), quick: median(mix.quick), gated: median(mix.gated) },
    skippedMedian: median(skipped),
    analysesFailed: sum(ids.map((id) => traces.get(id)?.status?.analysis_failed ?? 0)),
    latencyP50: p50s.length ? median(p50s) : null,
    latencyP99: p99s.length ? Math.max(...p99s) : null,
    changeP99: change99s.length ? Math.max(...change99s) : null,
    serverCpu: cpu.mainPct,
    detectorCpu: cpu.detectorPct,
    detectors: cpu.detectors,
    otherCpu: cpu.otherPct,
    clientCpu: (sum(clientCpu) - sum(clientCpu0)) / wall * 100,
    reconnects: sum(outcomes.map((o) => o.reconnects)),
    serverPeakMB: cpu.peakRssMB,
    detectorRssMB: cpu.detectorRssMB,
    statusMaxMs: health.maxReplyMs,
    statusTimeouts: health.timeouts,
    loadMax: Math.max(0, ...health.loads),
    wireKbps: median(ids.map((id) => traces.get(id)?.status).filter((st) => st && st.connected_s > 0).map((st) => (st!.bytes_in * 8) / 1000 / st!.connected_s)),
    mbPerHour: median(ids.map((id) => recorded.get(id)).filter((r) => r && r.frames > 0).map((r) => (r!.bytes / 1e6 / (r!.frames / 15)) * 3600)),
    failures,
  };
}

const HEADER = [
  'detection', 'clients', 'frames sent', 'recorded (ffprobe)', 'lost', 'audio s sent', 'audio s recorded', 'fps per client min / median',
  'analyses/s per candidate min / median', 'full / quick / gated per s (median)', 'skipped/s median', 'analyses failed', 'verdict ms p50 / p99', 'change ms p99', 'server CPU %', 'detector CPU % (procs)', 'ffmpeg mux CPU %',
  'client CPU %', 'reconnects', 'server peak RSS MB', 'slowest status reply ms', 'machine load max',
];
const RIGHT = HEADER.map((_, i) => i > 0);

function row(r: Run): Array<string | number> {
  const det = r.detector !== 'none';
  const ms = (v: number | null): string => (v === null ? '-' : fmt(v));
  return [
    r.detector === 'none' ? 'off' : `${r.detector}`,
    r.clients,
    r.framesSent,
    r.framesRecorded,
    r.lostFrames,
    fmt(r.audioSent, 1),
    fmt(r.audioRecorded, 1),
    `${fmt(r.fpsMin, 2)} / ${fmt(r.fpsMedian, 2)}`,
    det ? `${fmt(r.analysesMin, 1)} / ${fmt(r.analysesMedian, 1)}` : '-',
    det ? `${fmt(r.mixMedian.full, 1)} / ${fmt(r.mixMedian.quick, 1)} / ${fmt(r.mixMedian.gated, 1)}` : '-',
    det ? fmt(r.skippedMedian, 1) : '-',
    det ? r.analysesFailed : '-',
    det ? `${ms(r.latencyP50)} / ${ms(r.latencyP99)}` : '-',
    det ? ms(r.changeP99) : '-',
    fmt(r.serverCpu),
    det ? `${fmt(r.detectorCpu)} (${r.detectors})` : '-',
    fmt(r.otherCpu),
    fmt(r.clientCpu),
    r.reconnects,
    fmt(r.serverPeakMB),
    r.statusTimeouts > 0 ? `${fmt(r.statusMaxMs)} (${r.statusTimeouts} over 20 s)` : fmt(r.statusMaxMs),
    fmt(r.loadMax, 1),
  ];
}

/** Issue 10's target on the largest run with detection, as a sentence that says which parts are met. */
function targetLine(runs: Run[]): { text: string; met: boolean } | null {
  const det = runs.filter((r) => r.detector !== 'none');
  if (det.length === 0) return null;
  const r = det.reduce((a, b) => (b.clients > a.clients ? b : a));
  const frames = r.lostFrames === 0 && r.failures.length === 0;
  const rate = r.analysesMin >= TARGET.minAnalysesPerS;
  const lat = r.latencyP99 !== null && r.latencyP99 <= TARGET.verdictP99Ms;
  const yn = (b: boolean): string => (b ? 'met' : 'NOT met');
  return {
    met: frames && rate && lat,
    text:
      `Target at ${r.clients} candidates with ${r.detector} detection: every frame recorded ${yn(frames)}; ` +
      `every candidate analysed at least ${TARGET.minAnalysesPerS} times a second ${yn(rate)} (slowest ${fmt(r.analysesMin, 1)}/s); ` +
      `verdict p99 at most ${TARGET.verdictP99Ms} ms ${yn(lat)} (worst candidate ${r.latencyP99 === null ? 'no verdicts' : `${fmt(r.latencyP99)} ms`}).`,
  };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const work = mkdtempSync(path.join(tmpdir(), 'vigil-bench-frames-'));
  const jpegs = await sampleJpegs();
  const framesFile = path.join(work, 'frames.bin');
  const pcmFile = path.join(work, 'speech.pcm');
  saveFrames(framesFile, jpegs);
  writeFileSync(pcmFile, samplePcm());
  const encodedFile = CODEC === 'h264' ? path.join(work, 'encoded.bin') : undefined;
  // The snapshot rate a server with detection asks for (analyze-fps 5, at most 4 snapshots a second).
  if (encodedFile) saveEncoded(encodedFile, await encodeSample(samplePcm(), 250));
  const avgKB = jpegs.reduce((a, j) => a + j.length, 0) / jpegs.length / 1024;
  const media = encodedFile
    ? 'H.264 640x480 at 15 fps (libx264 as `vigil client --codec h264` runs it, encoded once and replayed), 320x240 JPEG snapshots at the rate WELCOME asks for, and 24 kbit/s Opus in 40 ms packets'
    : `640x480 JPEG (${avgKB.toFixed(1)} KB average, encoded once and replayed) at 15 fps plus 16 kHz mono audio in 40 ms chunks`;
  const intro =
    `Each candidate streams ${media} for ${SECONDS} s to a real \`vigil serve\`; the candidates are the real client code in ${CLIENT_PROCS} ` +
    `processes on the same cores. Detection off is \`--detector none\`; on is the default detector at the default ` +
    `\`--analyze-fps 5\`, one detector process per core.`;
  console.log(`bench/ingest: ${machineLine(machine)}`);
  console.log(intro);
  console.log(`| ${HEADER.join(' | ')} |`);
  const runs: Run[] = [];
  try {
    for (const detector of DETECTORS) {
      for (const n of CLIENTS) {
        const r = await runCase(detector, n, framesFile, pcmFile, encodedFile);
        runs.push(r);
        console.log(`| ${row(r).join(' | ')} |`);
        for (const f of r.failures) console.error(`  FAILED: ${f}`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const target = targetLine(runs);
  if (target) console.log(target.text);
  const perCandidate = table(
    ['codec', 'detection', 'clients', 'wire kbit/s per candidate (median)', 'recording MB/hour per candidate (median)', 'server CPU % per candidate', 'detector CPU % per candidate'],
    runs.map((r) => [CODEC, r.detector === 'none' ? 'off' : r.detector, r.clients, fmt(r.wireKbps), fmt(r.mbPerHour), fmt(r.serverCpu / r.clients, 2), r.detector === 'none' ? '-' : fmt(r.detectorCpu / r.clients, 2)]),
    [false, false, true, true, true, true, true],
  );
  console.log(perCandidate);
  const failed = runs.filter((r) => r.failures.length > 0);
  if (failed.length > 0) {
    console.error(`bench/ingest: FAILED: ${failed.map((r) => `${r.clients} clients (detection ${r.detector}): ${r.failures.length} problem(s), ${r.lostFrames} frames lost`).join('; ')}. Results not written.`);
    process.exitCode = 1;
    return;
  }
  if (WRITE_RESULTS) {
    const notes = [
      intro,
      '',
      table(HEADER, runs.map(row), RIGHT),
      '',
      `Frames and audio seconds "recorded" are counted in the recordings with ffprobe after the server has finalised them; ` +
        `the bench fails rather than print a row that lost any. fps per client is frames recorded over the wall time that client ` +
        `streamed. Analyses per second are per candidate in steady state (after ${WARMUP_S} s), from the server's status; ` +
        `they are full analyses (both models), quick checks (BlazeFace alone on the last analysis's one face) and frames the ` +
        `motion gate found unchanged from the last full analysis (no model run), each candidate fully analysed at least once a second; ` +
        `skipped frames are those the latest-frame slot replaced before analysis. Verdict latency is from a frame's arrival ` +
        `at the server to its verdict applied and any VERDICT written: the median of the candidates' p50 and the worst ` +
        `candidate's p99; "change" is from the first frame no analysis had seen yet, i.e. how late a change on camera is ` +
        `reported at worst. CPU is from /proc over the run (100 % is one core): the server process, its detector processes, ` +
        `and the ffmpeg processes it starts as sessions end to add the incident subtitle track (the sample speech opens ` +
        `speech incidents; sampled once a second, so a lower bound); server peak RSS is its VmHWM. The slowest ` +
        `status reply (polled once a second over the admin socket) shows how long the server's event loop stalled at worst. ` +
        `"Machine load max" is the highest 1-minute load average seen during the run: on 2 cores, anything above about 3 ` +
        `means other programs took CPU from the server and its detectors, and the figures are lower than the code can do.`,
      ...(target ? ['', target.text] : []),
      '',
      'Per candidate (wire: every byte the server received, framing included, over the time connected):',
      '',
      perCandidate,
    ];
    console.log(`results: ${writeResult(CODEC === 'h264' ? 'ingest-h264' : 'ingest', machine, notes.join('\n'))}`);
  }
  if (REQUIRE_TARGET && target && !target.met) {
    console.error('bench/ingest: the target is not met (--require-target)');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
