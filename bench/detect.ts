/**
 * bench/detect: for each detector, milliseconds per frame (JPEG decode + detection + verdict, the path every
 * analysed frame takes) at 640x480 and 320x240, and per-frame verdict accuracy per labelled segment kind on the
 * sample videos. Runs in one process on one core, so the numbers are per detector process.
 *
 *   node dist/bench/detect.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { analyzeJpeg, createDetector } from '../src/detect/analyze';
import { loadOpenCV } from '../src/detect/opencv';
import { DEFAULT_THRESHOLDS } from '../src/detect/verdict';
import type { DetectorName } from '../src/detect/types';
import { VideoFileSource } from '../src/media/video-file';

const REPO = path.resolve(__dirname, '..', '..');
const MEDIA = process.env['VIGIL_MEDIA'] ?? path.resolve(REPO, '..', 'shared', 'media');

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

async function main(): Promise<void> {
  const cv = loadOpenCV();
  const segs = segments();
  const files = [...new Set(segs.map((s) => s.file))];
  const sizes: Array<[number, number]> = [
    [640, 480],
    [320, 240],
  ];
  const detectors: DetectorName[] = ['dnn', 'haar'];
  const timing: string[] = [];
  const accuracy: string[] = [];
  const kinds = ['ok', 'no_face', 'misaligned', 'multiple_faces'];
  for (const [w, h] of sizes) {
    const videos = await Promise.all(files.map(async (f) => ({ file: f, ...(await frames(f, w, h)) })));
    for (const name of detectors) {
      const detector = createDetector(cv, { detector: name, thresholds: DEFAULT_THRESHOLDS });
      const times: number[] = [];
      const right: Record<string, [number, number]> = Object.fromEntries(kinds.map((k) => [k, [0, 0]]));
      for (const v of videos) {
        for (const [i, jpeg] of v.jpegs.entries()) {
          const t0 = process.hrtime.bigint();
          const r = analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS);
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
          const t = i / v.fps;
          const seg = segs.find((s) => s.file === v.file && t >= s.start - 1e-6 && t < s.end - 1e-6);
          if (!seg) continue;
          right[seg.expected]![1]++;
          if (r.verdict === seg.expected) right[seg.expected]![0]++;
        }
      }
      times.sort((a, b) => a - b);
      timing.push(`| ${name} | ${w}x${h} | ${times.length} | ${percentile(times, 50).toFixed(1)} | ${percentile(times, 95).toFixed(1)} | ${(1000 / percentile(times, 50)).toFixed(0)} |`);
      const cells = kinds.map((k) => {
        const [ok, n] = right[k]!;
        return `${((100 * ok) / n).toFixed(1)} % (${ok}/${n})`;
      });
      accuracy.push(`| ${name} | ${w}x${h} | ${cells.join(' | ')} |`);
    }
  }
  console.log(`bench/detect: one process, node ${process.version}, OpenCV ${cv.version.major}.${cv.version.minor}.${cv.version.revision}; frames of every sample video`);
  console.log('| detector | frame | frames | median ms | p95 ms | frames/s per process |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const l of timing) console.log(l);
  console.log('');
  console.log('Per-frame verdict accuracy by labelled segment kind (all sample videos):');
  console.log(`| detector | frame | ${kinds.map((k) => (k === 'ok' ? 'face (ok)' : k)).join(' | ')} |`);
  console.log(`|---|---|${kinds.map(() => '---:').join('|')}|`);
  for (const l of accuracy) console.log(l);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
