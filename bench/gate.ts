/**
 * bench/gate: the numbers motion gating's threshold is chosen from (src/detect/motion-gate.ts), and what gating
 * saves. For each sample video at 640x480 it replays the server's policy at 5 analyses/s (reference only while
 * the last full analysis is younger than 1 s of video; the quick check while that analysis was ok with one face)
 * with the real dnn detector and prints the share of frames gated, answered quick and fully analysed, and the
 * cost of each. It also prints the thumbnail differences that
 * must not gate: across the hard cuts of candidate-incidents.mp4, a face moved 5 % of the width, a second face
 * pasted in.
 *
 *   node dist/bench/gate.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { analyzeJpeg, createDetector, decodeJpeg } from '../src/detect/analyze';
import { analyzeUnlessStill, GATE_LIMITS, makeThumbnail, thumbnailDifference, type Thumbnail } from '../src/detect/motion-gate';
import { loadOpenCV, type CV } from '../src/detect/opencv';
import type { FrameResult } from '../src/detect/types';
import { DEFAULT_THRESHOLDS } from '../src/detect/verdict';
import { VideoFileSource } from '../src/media/video-file';

const REPO = path.resolve(__dirname, '..', '..');
const MEDIA = process.env['VIGIL_MEDIA'] ?? path.resolve(REPO, '..', 'shared', 'media');

async function frames(file: string): Promise<{ fps: number; jpegs: Buffer[] }> {
  const src = await VideoFileSource.open(path.join(MEDIA, 'video', file), { width: 640, height: 480, quality: 80 });
  const jpegs: Buffer[] = [];
  for await (const j of src.frames()) jpegs.push(j);
  return { fps: src.fps, jpegs };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const f1 = (n: number): string => n.toFixed(1);

/** The frame with the rectangle `box` copied `dx` pixels to the right (a face that moved), or `patch` pasted at (x, y). */
function edited(cv: CV, jpeg: Buffer, edit: (img: ReturnType<CV['imdecode']>) => void): Buffer {
  const img = cv.imdecode(jpeg);
  edit(img);
  return cv.imencode('.jpg', img, [cv.IMWRITE_JPEG_QUALITY, 80]);
}

async function main(): Promise<void> {
  const cv = loadOpenCV();
  const detector = await createDetector(cv, { detector: 'dnn', thresholds: DEFAULT_THRESHOLDS });
  const analyze = (jpeg: Buffer) => analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS);
  // The face the quick check looks for, as the server passes it (motion-memory.ts).
  const lastFace = (r: FrameResult | undefined) => (r && r.verdict === 'ok' && r.faces.length === 1 ? r.faces[0]! : null);
  // A thumbnail is the same from any decoding scale (motion-gate.ts): 1/8 is the cheapest.
  const thumbnail = (jpeg: Buffer): Thumbnail => makeThumbnail(cv, decodeJpeg(cv, jpeg, 8));
  const out: string[] = [`bench/gate: limits mean ${GATE_LIMITS.mean}, peak ${GATE_LIMITS.peak} (absolute gray differences of 32x24 thumbnails, brightness-normalised)`, ''];

  out.push(
    '| video | frames at 5/s | gated | quick (verdicts a full analysis disagrees with) | full | consecutive mean diff median / p95 / max (peak p10 / median / p95) | ms gated (median) | ms quick (median) | ms full (median) |',
    '|---|---:|---:|---:|---:|---|---:|---:|---:|',
  );
  const videos: Record<string, { fps: number; jpegs: Buffer[] }> = {};
  for (const file of ['candidate-ok.mp4', 'candidate-incidents.mp4', 'candidate-incidents-mjpeg.avi', 'megamind-clip.mp4', 'still']) {
    // 'still': candidate-incidents.mp4's frame at 3 s for 10 s, a candidate sitting still before a steady camera.
    const v =
      file === 'still'
        ? { fps: 15, jpegs: Array.from({ length: 150 }, () => videos['candidate-incidents.mp4']!.jpegs[45]!) }
        : (videos[file] = await frames(file));
    const step = Math.round(v.fps / 5);
    let reference: { thumb: Thumbnail; t: number; result: FrameResult } | null = null;
    let previous: Thumbnail | null = null;
    // As MotionMemory: after a gated frame the next is likely still too (the detector then decodes the thumbnail first).
    let lastGated = false;
    const consecutive: number[] = [];
    const peaks: number[] = [];
    const gatedMs: number[] = [];
    const fullMs: number[] = [];
    const quickMs: number[] = [];
    let gated = 0;
    let quick = 0;
    // Quick answers whose verdict a full analysis of the same frame does not share (checked outside the timing).
    let disagree = 0;
    let total = 0;
    for (let i = 0; i < v.jpegs.length; i += step) {
      const t = i / v.fps;
      const ref = reference && t - reference.t < 1 ? reference : null;
      const t0 = process.hrtime.bigint();
      const a = await analyzeUnlessStill(cv, detector, v.jpegs[i]!, ref?.thumb ?? null, GATE_LIMITS, DEFAULT_THRESHOLDS, lastFace(ref?.result), lastGated);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      total++;
      if (a.difference) lastGated = a.kind === 'gated';
      if (a.kind === 'gated') {
        gated++;
        gatedMs.push(ms);
      } else if (a.kind === 'quick') {
        quick++;
        quickMs.push(ms);
        if ((await analyze(v.jpegs[i]!)).verdict !== a.result.verdict) disagree++;
      } else {
        fullMs.push(ms);
        reference = { thumb: a.thumbnail, t, result: a.result };
      }
      if (previous) {
        const d = thumbnailDifference(a.thumbnail, previous);
        consecutive.push(d.mean);
        peaks.push(d.peak);
      }
      previous = a.thumbnail;
    }
    [consecutive, peaks, gatedMs, quickMs, fullMs].forEach((x) => x.sort((p, q) => p - q));
    const share = (n: number): string => `${n} (${Math.round((100 * n) / total)} %)`;
    out.push(
      `| ${file} | ${total} | ${share(gated)} | ${share(quick)}${disagree ? `, ${disagree} disagree` : ''} | ${share(fullMs.length)} | ${f1(pct(consecutive, 50))} / ${f1(pct(consecutive, 95))} / ${f1(pct(consecutive, 100))} (peak ${f1(pct(peaks, 10))} / ${f1(pct(peaks, 50))} / ${f1(pct(peaks, 95))}) | ${pct(gatedMs, 50).toFixed(2)} | ${pct(quickMs, 50).toFixed(2)} | ${pct(fullMs, 50).toFixed(2)} |`,
    );
  }
  out.push('');

  // Hard cuts: the first frame after the cut against every frame of the second before it (any could be the reference).
  const inc = videos['candidate-incidents.mp4']!;
  const cuts: string[] = [];
  for (const c of [6, 12, 18, 24]) {
    const after = thumbnail(inc.jpegs[Math.round(c * inc.fps)]!);
    let min = Infinity;
    for (let i = Math.round((c - 1) * inc.fps); i < Math.round(c * inc.fps); i++) min = Math.min(min, thumbnailDifference(after, thumbnail(inc.jpegs[i]!)).mean);
    cuts.push(`${c} s: ${f1(min)}`);
  }
  out.push(`Hard cuts of candidate-incidents.mp4, smallest mean difference to any frame of the second before: ${cuts.join(', ')}`, '');

  // A face moved 5 % of the width, and a second face 5 % / 8 % wide pasted in, on face frames.
  const other = cv.imread(path.join(MEDIA, 'faces', 'lfw-john-salley.jpg'));
  const otherFace = (await analyze(readFileSync(path.join(MEDIA, 'faces', 'lfw-john-salley.jpg')))).faces[0]!;
  const otherCrop = other.getRegion(new cv.Rect(otherFace.x, otherFace.y, otherFace.w, otherFace.h));
  const samples: Array<[string, Buffer]> = [
    ['candidate-ok 3 s', videos['candidate-ok.mp4']!.jpegs[Math.round(3 * videos['candidate-ok.mp4']!.fps)]!],
    ['candidate-ok 15 s', videos['candidate-ok.mp4']!.jpegs[Math.round(15 * videos['candidate-ok.mp4']!.fps)]!],
    ['candidate-incidents 3 s', inc.jpegs[Math.round(3 * inc.fps)]!],
    ['candidate-incidents 27 s', inc.jpegs[Math.round(27 * inc.fps)]!],
    ['megamind 2 s', videos['megamind-clip.mp4']!.jpegs[Math.round(2 * videos['megamind-clip.mp4']!.fps)]!],
  ];
  out.push('| face frame: mean (peak) | face moved 5 % | second face 5 % wide | second face 8 % wide |', '|---|---:|---:|---:|');
  for (const [name, jpeg] of samples) {
    const base = thumbnail(jpeg);
    const face = (await analyze(jpeg)).faces[0];
    if (!face) {
      out.push(`| ${name} | no face found | | |`);
      continue;
    }
    const dx = Math.round(0.05 * 640);
    const moved = edited(cv, jpeg, (img) => {
      const x = Math.max(0, face.x);
      const y = Math.max(0, face.y);
      const w = Math.min(640 - x - dx, face.w);
      const h = Math.min(480 - y, face.h);
      img.getRegion(new cv.Rect(x, y, w, h)).copy().copyTo(img.getRegion(new cv.Rect(x + dx, y, w, h)));
    });
    const pasted = (frac: number): Buffer =>
      edited(cv, jpeg, (img) => {
        const w = Math.round(frac * 640);
        const h = Math.round((w * otherFace.h) / otherFace.w);
        // Beside the candidate, on the side with more room: a second person in the background.
        const x = face.x + face.w / 2 > 320 ? 40 : 600 - w;
        otherCrop.resize(h, w, 0, 0, cv.INTER_AREA).copyTo(img.getRegion(new cv.Rect(x, 60, w, h)));
      });
    const d = (j: Buffer): string => {
      const x = thumbnailDifference(base, thumbnail(j));
      return `${f1(x.mean)} (peak ${f1(x.peak)})`;
    };
    out.push(`| ${name} | ${d(moved)} | ${d(pasted(0.05))} | ${d(pasted(0.08))} |`);
  }
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}

void main();
