/**
 * bench/detect: for each detector, per-condition accuracy on the stress set (bench/stress/recipe.ts), per-segment
 * accuracy on the sample videos, and milliseconds per frame for the whole path (JPEG decode, detection, verdict)
 * at 640x480 and 320x240. Runs in one process on one core, so the times are per detector process.
 *
 * For the default detector, also the cost of each stage and of the requests the server sends (bench/detect-stages.ts).
 *
 *   node dist/bench/detect.js [--detector dnn|haar] [--only stress|videos|timing|stages] [--errors]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { analyzeJpeg, createDetector, type FaceDetector } from '../src/detect/analyze';
import { loadOpenCV, type CV } from '../src/detect/opencv';
import { DEFAULT_THRESHOLDS } from '../src/detect/verdict';
import type { DetectorName } from '../src/detect/types';
import { VideoFileSource } from '../src/media/video-file';
import { requestMix, stageCosts } from './detect-stages';
import { machineInfo, machineLine, writeResult } from './lib/report';
import { CONDITIONS, stressSet } from './stress/recipe';

const REPO = path.resolve(__dirname, '..', '..');
const MEDIA = process.env['VIGIL_MEDIA'] ?? path.resolve(REPO, '..', 'shared', 'media');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

interface Segment {
  file: string;
  start: number;
  end: number;
  expected: string;
}

function segments(): Segment[] {
  const [, ...rows] = readFileSync(path.join(MEDIA, 'video', 'segments.csv'), 'utf8').trim().split('\n');
  return rows.map((r) => {
    const [file, start, end, expected] = r.split(',');
    return { file: file!, start: Number(start), end: Number(end), expected: expected === 'face' ? 'ok' : expected! };
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function frames(file: string, width: number, height: number): Promise<{ fps: number; jpegs: Buffer[] }> {
  const src = await VideoFileSource.open(path.join(MEDIA, 'video', file), { width, height, quality: 80 });
  const jpegs: Buffer[] = [];
  for await (const j of src.frames()) jpegs.push(j);
  return { fps: src.fps, jpegs };
}

const cell = (ok: number, n: number): string => `${((100 * ok) / Math.max(1, n)).toFixed(1)} % (${ok}/${n})`;

async function stress(cv: CV, detector: FaceDetector, name: string, out: string[], showErrors: boolean): Promise<void> {
  const { dir, frames: set } = await stressSet(MEDIA, undefined, (s) => console.error(s));
  const rows: string[] = [];
  let right = 0;
  for (const c of CONDITIONS) {
    const fs = set.filter((f) => f.condition === c);
    let ok = 0;
    const wrong: Record<string, number> = {};
    for (const f of fs) {
      const r = await analyzeJpeg(cv, detector, readFileSync(path.join(dir, f.file)), DEFAULT_THRESHOLDS);
      if (r.verdict === f.expected) ok++;
      else {
        wrong[r.verdict] = (wrong[r.verdict] ?? 0) + 1;
        if (showErrors) console.error(`${f.file}: ${r.verdict} (${r.why}) faces ${JSON.stringify(r.faces)} expected ${f.expected} ${JSON.stringify(f.faces)} - ${f.recipe}`);
      }
    }
    right += ok;
    const errs = Object.entries(wrong).map(([v, n]) => `${n} ${v}`).join(', ');
    rows.push(`| ${c} | ${fs[0]?.expected ?? ''} | ${cell(ok, fs.length)} | ${errs || '-'} |`);
  }
  out.push(`Stress set (${set.length} frames of 640x480 made from ../shared/media by bench/stress/recipe.ts), detector ${name}: ${cell(right, set.length)} right.`);
  out.push('', '| condition | expected | right | wrong verdicts |', '|---|---|---:|---|', ...rows, '');
}

async function videos(cv: CV, detector: FaceDetector, name: string, out: string[]): Promise<void> {
  const segs = segments();
  const kinds = ['ok', 'no_face', 'misaligned', 'multiple_faces'];
  out.push(`Sample videos, per-frame verdicts by labelled segment, detector ${name}:`, '', `| frame | ${kinds.join(' | ')} |`, `|---|${kinds.map(() => '---:').join('|')}|`);
  for (const [w, h] of [
    [640, 480],
    [320, 240],
  ] as const) {
    const right: Record<string, [number, number]> = Object.fromEntries(kinds.map((k) => [k, [0, 0]]));
    for (const file of [...new Set(segs.map((s) => s.file))]) {
      const v = await frames(file, w, h);
      for (const [i, jpeg] of v.jpegs.entries()) {
        const t = i / v.fps;
        const seg = segs.find((s) => s.file === file && t >= s.start - 1e-6 && t < s.end - 1e-6);
        if (!seg) continue;
        const r = await analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS);
        right[seg.expected]![1]++;
        if (r.verdict === seg.expected) right[seg.expected]![0]++;
      }
    }
    out.push(`| ${w}x${h} | ${kinds.map((k) => cell(...right[k]!)).join(' | ')} |`);
  }
  out.push('');
}

async function timing(cv: CV, detector: FaceDetector, name: string, out: string[]): Promise<void> {
  out.push(`Milliseconds per analysed frame (JPEG in, verdict out; one process, one core), detector ${name}:`, '', '| frame | frames | median ms | p95 ms | frames/s per process |', '|---|---:|---:|---:|---:|');
  for (const [w, h] of [
    [640, 480],
    [320, 240],
  ] as const) {
    const v = await frames('candidate-incidents.mp4', w, h);
    for (const jpeg of v.jpegs.slice(0, 30)) await analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS);
    const times: number[] = [];
    for (const jpeg of v.jpegs) {
      const t0 = process.hrtime.bigint();
      await analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    out.push(`| ${w}x${h} | ${times.length} | ${percentile(times, 50).toFixed(2)} | ${percentile(times, 95).toFixed(2)} | ${(1000 / percentile(times, 50)).toFixed(0)} |`);
  }
  out.push('');
}

async function main(): Promise<void> {
  const cv = loadOpenCV();
  const names = (arg('--detector') ? [arg('--detector')] : ['dnn', 'haar']) as DetectorName[];
  const only = arg('--only');
  const machine = machineInfo();
  const out: string[] = [`OpenCV ${cv.version.major}.${cv.version.minor}.${cv.version.revision} (JPEG decoding), onnxruntime-node (models), one process.`, ''];
  for (const name of names) {
    const detector = await createDetector(cv, { detector: name, thresholds: DEFAULT_THRESHOLDS });
    if (!only || only === 'stress') await stress(cv, detector, name, out, process.argv.includes('--errors'));
    if (!only || only === 'videos') await videos(cv, detector, name, out);
    if (!only || only === 'timing') await timing(cv, detector, name, out);
    if (name === 'dnn' && (!only || only === 'stages')) {
      // candidate-ok.mp4, the clip bench/ingest streams: one face, which the quick check looks for again.
      for (const [w, h] of [
        [640, 480],
        [320, 240],
      ] as const) await stageCosts(cv, (await frames('candidate-ok.mp4', w, h)).jpegs, `${w}x${h} frames of candidate-ok.mp4`, out);
      const videos = [];
      for (const name of ['candidate-ok.mp4', 'candidate-incidents.mp4', 'megamind-clip.mp4']) videos.push({ name, ...(await frames(name, 640, 480)) });
      await requestMix(cv, detector, videos, 3, out);
    }
  }
  console.log(`${machineLine(machine)}\n\n${out.join('\n')}`);
  // A partial run (--detector, --only) is for looking, not for the README.
  if (!only && !arg('--detector')) console.error(`bench/detect: wrote ${writeResult('detect', machine, out.join('\n'))}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
