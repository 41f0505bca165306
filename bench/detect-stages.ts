/**
 * Where a detector process's time goes, stage by stage, for the default detector: the JPEG decodes, each model's
 * onnxruntime run alone, the three kinds of answer the server gets (a full analysis, a quick check, a gated
 * frame) and the round trip through the detector pool's IPC. Each figure is the median CPU time of the process
 * per call (process.cpuUsage, all its threads), so that other programs on the shared cores inflate it less than
 * a wall clock would. Then what whole requests cost on the sample videos replayed as the server sends them.
 */
import { analyzeJpeg, createDetector, decodeJpeg, quickCheck, type FaceDetector } from '../src/detect/analyze';
import { BLAZEFACE_INPUT, BLAZEFACE_MODEL } from '../src/detect/blazeface';
import { DnnDetector } from '../src/detect/dnn';
import { GATE_LIMITS, analyzeUnlessStill, makeThumbnail, type GatedAnalysis, type GateLimits, type Thumbnail } from '../src/detect/motion-gate';
import { OnnxModel } from '../src/detect/onnx';
import type { CV } from '../src/detect/opencv';
import { DetectorPool } from '../src/detect/pool';
import type { FaceBox } from '../src/detect/types';
import { ULTRAFACE_MODEL } from '../src/detect/ultraface';
import { DEFAULT_THRESHOLDS } from '../src/detect/verdict';
import { MotionMemory } from '../src/server/motion-memory';
import { fmt } from './lib/report';

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median CPU ms of `f` over `n` calls after 20 unmeasured ones; `f` gets the call's index. */
async function cost(n: number, f: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < 20; i++) await f(i);
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = cpuMs();
    await f(i);
    t.push(cpuMs() - t0);
  }
  return median(t);
}

/** Median wall ms of `f` (for the IPC round trip, whose cost is split between two processes). */
async function wall(n: number, f: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20; i++) await f(i);
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f(i);
    t.push(performance.now() - t0);
  }
  return median(t);
}

/** The stage table for frames `jpegs` (all the same size, the first showing one face). */
export async function stageCosts(cv: CV, jpegs: Buffer[], label: string, out: string[]): Promise<void> {
  const n = Math.min(300, jpegs.length * 2);
  const at = (i: number): Buffer => jpegs[(i * 7) % jpegs.length]!;
  const detector = await createDetector(cv, { detector: 'dnn', thresholds: DEFAULT_THRESHOLDS });
  const dnn = detector as DnnDetector;
  const first = await analyzeJpeg(cv, detector, at(0), DEFAULT_THRESHOLDS);
  const face = first.faces.length === 1 ? first.faces[0]! : null;
  const quickReduce = face ? dnn.trackReduction(face) : 1;
  const uf = await OnnxModel.load(ULTRAFACE_MODEL);
  const bf = await OnnxModel.load(BLAZEFACE_MODEL);
  const ufIn = new Float32Array(3 * 320 * 240);
  const bfIn = new Float32Array(BLAZEFACE_INPUT * BLAZEFACE_INPUT * 3);
  const flag = (r: number): number => (r >= 8 ? cv.IMREAD_REDUCED_COLOR_8 : r >= 4 ? cv.IMREAD_REDUCED_COLOR_4 : r >= 2 ? cv.IMREAD_REDUCED_COLOR_2 : cv.IMREAD_COLOR);
  const decoded = jpegs.map((j) => decodeJpeg(cv, j, 2));
  const thumbs = decoded.map((d) => makeThumbnail(cv, d));
  const rows: Array<[string, number]> = [
    ['JPEG decode, full size', await cost(n, (i) => cv.imdecode(at(i), cv.IMREAD_COLOR))],
    ['JPEG decode at 1/2 (the full analysis)', await cost(n, (i) => cv.imdecode(at(i), cv.IMREAD_REDUCED_COLOR_2))],
    [`JPEG decode at 1/${quickReduce} (the quick check, for this face)`, await cost(n, (i) => cv.imdecode(at(i), flag(quickReduce)))],
    ['thumbnail (32x24, from the 1/2 decode)', await cost(n, (i) => makeThumbnail(cv, decoded[(i * 7) % jpegs.length]!))],
    ['UltraFace, onnxruntime run alone', await cost(n, () => uf.run(ufIn, [1, 3, 240, 320]))],
    ['BlazeFace, onnxruntime run alone', await cost(n, () => bf.run(bfIn, [1, BLAZEFACE_INPUT, BLAZEFACE_INPUT, 3]))],
    ['full analysis (JPEG to verdict)', await cost(n, (i) => analyzeJpeg(cv, detector, at(i), DEFAULT_THRESHOLDS))],
    ...(face ? [['quick check (JPEG to verdict)', await cost(n, (i) => quickCheck(detector, decodeJpeg(cv, at(i), quickReduce), face, DEFAULT_THRESHOLDS))] as [string, number]] : []),
    // A frame compared with its own thumbnail: the cheapest answer, gated. Without a face to look for it is decoded
    // at the full analysis's scale; after a gated frame, at 1/8 in gray.
    ['gated frame (decode for the full analysis, thumbnail, comparison)', await cost(n, (i) => analyzeUnlessStill(cv, detector, at(i), thumbs[(i * 7) % jpegs.length]!, GATE_LIMITS, DEFAULT_THRESHOLDS))],
    ['gated frame after a gated one (1/8 gray decode, thumbnail, comparison)', await cost(n, (i) => analyzeUnlessStill(cv, detector, at(i), thumbs[(i * 7) % jpegs.length]!, GATE_LIMITS, DEFAULT_THRESHOLDS, null, true))],
  ];
  const pool = await DetectorPool.start({ detector: 'dnn', thresholds: DEFAULT_THRESHOLDS, size: 1 });
  try {
    const gatedInPool = await wall(n, (i) => pool.analyzeUnlessStill(at(i), thumbs[(i * 7) % jpegs.length]!, GATE_LIMITS));
    const gatedHere = await wall(n, (i) => analyzeUnlessStill(cv, detector, at(i), thumbs[(i * 7) % jpegs.length]!, GATE_LIMITS, DEFAULT_THRESHOLDS));
    rows.push(['IPC to a detector process and back (wall, gated frame in the pool less in-process)', gatedInPool - gatedHere]);
  } finally {
    await pool.close();
  }
  const full = rows.find((r) => r[0].startsWith('full analysis'))![1];
  const quick = rows.find((r) => r[0].startsWith('quick check'))?.[1] ?? full;
  const thumb = rows.find((r) => r[0].startsWith('thumbnail'))![1];
  const ipc = Math.max(0, rows.at(-1)![1]);
  // The server's mix at 3 verdicts a second: the full cascade once a second (motion-memory.ts), two quick checks;
  // each request makes its thumbnail from the picture it decoded.
  const perCandidate = full + 2 * quick + 3 * (thumb + ipc);
  out.push(
    `Cost per stage in one detector process, ${label} (median CPU ms per call, ${n} calls; the quick check's face ${face ? `${Math.round(face.w)} px wide` : 'none'}):`,
    '',
    '| stage | ms |',
    '|---|---:|',
    ...rows.map(([name, ms]) => `| ${name} | ${fmt(ms, 2)} |`),
    '',
    `A candidate analysed 3 times a second as the server does it (one full analysis, as motion gating requires at least once a second, and two quick checks, each with its thumbnail and IPC) costs ${fmt(perCandidate, 1)} ms of a core per second: ` +
      `${fmt(1000 / perCandidate, 0)} candidates per core, if a detector process had the core to itself.`,
    '',
  );
}

/** One gated request as a detector process answers it: the pool's analyzeUnlessStill, without the IPC. */
export type GatedRequest = (jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits, lastFace: FaceBox | null, likelyStill: boolean) => Promise<GatedAnalysis>;

/** CPU ms of each request, by the kind of answer it got. */
export type RequestCosts = Record<GatedAnalysis['kind'], number[]>;

/**
 * The CPU ms of every request when `video` is replayed as the server sends it: consecutive frames 200 ms apart
 * (5 analyses/s) through the server's MotionMemory on the video's clock, so references, their 1 s age limit, the
 * quick check's face and the likely-still hint are what the server would pass.
 */
export async function requestCosts(video: { fps: number; jpegs: Buffer[] }, request: GatedRequest, into: RequestCosts): Promise<void> {
  const clock = { ms: 0 };
  const memory = new MotionMemory(
    {
      analyzeUnlessStill: async (jpeg, reference, limits, lastFace, likelyStill) => {
        const t0 = cpuMs();
        const a = await request(jpeg, reference, limits, lastFace ?? null, likelyStill ?? false);
        into[a.kind].push(cpuMs() - t0);
        return a;
      },
    },
    GATE_LIMITS,
    () => clock.ms,
  );
  const step = Math.max(1, Math.round(video.fps / 5));
  for (let i = 0; i < video.jpegs.length; i += step) {
    clock.ms = (i * 1000) / video.fps;
    await memory.analyze(video.jpegs[i]!);
  }
}

/** The request table: the sample videos replayed `passes` times each, CPU ms per request by answer and overall. */
export async function requestMix(cv: CV, detector: FaceDetector, videos: Array<{ name: string; fps: number; jpegs: Buffer[] }>, passes: number, out: string[]): Promise<void> {
  const request: GatedRequest = (jpeg, reference, limits, lastFace, likelyStill) => analyzeUnlessStill(cv, detector, jpeg, reference, limits, DEFAULT_THRESHOLDS, lastFace, likelyStill);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const cell = (c: RequestCosts, k: GatedAnalysis['kind'], n: number): string => `${Math.round((100 * c[k].length) / n)} %, ${fmt(mean(c[k]), 2)}`;
  const all: RequestCosts = { gated: [], quick: [], analysed: [] };
  const rows: string[] = [];
  await requestCosts(videos[0]!, request, { gated: [], quick: [], analysed: [] });
  for (const v of videos) {
    const c: RequestCosts = { gated: [], quick: [], analysed: [] };
    for (let p = 0; p < passes; p++) await requestCosts(v, request, c);
    for (const k of ['gated', 'quick', 'analysed'] as const) all[k].push(...c[k]);
    const n = c.gated.length + c.quick.length + c.analysed.length;
    rows.push(`| ${v.name} | ${n / passes} | ${cell(c, 'gated', n)} | ${cell(c, 'quick', n)} | ${cell(c, 'analysed', n)} | ${fmt(mean([...c.gated, ...c.quick, ...c.analysed]), 2)} |`);
  }
  const n = all.gated.length + all.quick.length + all.analysed.length;
  out.push(
    `CPU per detector request, the sample videos at 640x480 replayed as the server sends them (5/s; references, the quick check's face and the likely-still hint from motion-memory.ts; mean CPU ms per request over ${passes} passes; share of requests, ms):`,
    '',
    '| video | requests | gated | quick | full | mean ms per request |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    `| all | ${n / passes} | ${cell(all, 'gated', n)} | ${cell(all, 'quick', n)} | ${cell(all, 'analysed', n)} | ${fmt(mean([...all.gated, ...all.quick, ...all.analysed]), 2)} |`,
    '',
  );
}
