import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { analyzeJpeg, createDetector, decodeJpeg, quickCheck, type FaceDetector } from '../src/detect/analyze';
import { analyzeUnlessStill, isStill, makeThumbnail, thumbnailDifference, type GatedAnalysis, type GateLimits, type Thumbnail } from '../src/detect/motion-gate';
import { loadOpenCV, type CV } from '../src/detect/opencv';
import type { FaceBox } from '../src/detect/types';
import { DEFAULT_THRESHOLDS } from '../src/detect/verdict';
import { VideoFileSource } from '../src/media/video-file';
import { MotionMemory } from '../src/server/motion-memory';
import { video } from './helpers';

type Request = (jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits, lastFace: FaceBox | null, likelyStill: boolean) => Promise<GatedAnalysis>;

interface Logged {
  asked: { reference: boolean; lastFace: FaceBox | null; likelyStill: boolean };
  answer: GatedAnalysis;
  /** The imdecode flags the request used, in order. */
  decodes: number[];
}

let cv: CV;
let detector: FaceDetector;
const frames: Array<{ name: string; fps: number; jpegs: Buffer[] }> = [];
const decodes: number[] = [];

before(async () => {
  cv = loadOpenCV();
  detector = await createDetector(cv, { detector: 'dnn', thresholds: DEFAULT_THRESHOLDS });
  // Every JPEG decode in this process, counted on the real OpenCV.
  const imdecode = cv.imdecode.bind(cv);
  cv.imdecode = ((buf: Buffer, flags?: number) => {
    decodes.push(flags ?? cv.IMREAD_COLOR);
    return imdecode(buf, flags);
  }) as CV['imdecode'];
  for (const name of ['candidate-ok.mp4', 'candidate-incidents.mp4']) {
    const src = await VideoFileSource.open(video(name), { width: 640, height: 480, quality: 80 });
    const jpegs: Buffer[] = [];
    for await (const j of src.frames()) jpegs.push(j);
    // candidate-ok's first 10 s (a face, quick answers at 1/4) and all of candidate-incidents (cuts, no face, two faces).
    frames.push({ name, fps: src.fps, jpegs: name === 'candidate-ok.mp4' ? jpegs.slice(0, Math.round(10 * src.fps)) : jpegs });
  }
});

/** The frames 200 ms apart through the server's MotionMemory on the video's clock, every request logged. */
async function replay(v: { fps: number; jpegs: Buffer[] }, request: Request): Promise<Logged[]> {
  const log: Logged[] = [];
  const clock = { ms: 0 };
  const memory = new MotionMemory(
    {
      analyzeUnlessStill: async (jpeg, reference, limits, lastFace, likelyStill) => {
        decodes.length = 0;
        const answer = await request(jpeg, reference, limits, lastFace ?? null, likelyStill ?? false);
        log.push({ asked: { reference: reference !== null, lastFace: (reference && lastFace) ?? null, likelyStill: Boolean(reference && likelyStill) }, answer, decodes: [...decodes] });
        return answer;
      },
    },
    undefined,
    () => clock.ms,
  );
  for (let i = 0; i < v.jpegs.length; i += Math.round(v.fps / 5)) {
    clock.ms = (i * 1000) / v.fps;
    await memory.analyze(v.jpegs[i]!);
  }
  return log;
}

const oneDecode: Request = (jpeg, reference, limits, lastFace, likelyStill) => analyzeUnlessStill(cv, detector, jpeg, reference, limits, DEFAULT_THRESHOLDS, lastFace, likelyStill);

/**
 * The order requests were answered in before they decoded once: the thumbnail from a 1/8 gray decode, then the
 * quick check's own decode at its reduction, then the full analysis's own.
 */
const threeDecodes: Request = async (jpeg, reference, limits, lastFace) => {
  const thumbnail = makeThumbnail(cv, { img: cv.imdecode(jpeg, cv.IMREAD_REDUCED_GRAYSCALE_8), width: 640, height: 480 });
  const difference = reference ? thumbnailDifference(thumbnail, reference) : null;
  if (difference && isStill(difference, limits)) return { kind: 'gated', thumbnail, difference };
  const found = difference && lastFace ? await quickCheck(detector, decodeJpeg(cv, jpeg, detector.trackReduction!(lastFace)), lastFace, DEFAULT_THRESHOLDS) : null;
  if (found && difference) return { kind: 'quick', result: found, thumbnail, difference };
  return { kind: 'analysed', result: await analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS), thumbnail, difference };
};

const flagOf = (reduce: number): number => ({ 1: cv.IMREAD_COLOR, 2: cv.IMREAD_REDUCED_COLOR_2, 4: cv.IMREAD_REDUCED_COLOR_4, 8: cv.IMREAD_REDUCED_COLOR_8 })[reduce]!;

test('a request decodes its JPEG once, at the quick check\'s scale when it has a face to look for, else at half size; after a gated frame, 1/8 gray first', { timeout: 120_000 }, async () => {
  const seen = new Set<string>();
  for (const v of frames) {
    for (const [i, e] of (await replay(v, oneDecode)).entries()) {
      const quickScale = e.asked.lastFace ? detector.trackReduction!(e.asked.lastFace) : null;
      // The models' decodes: the quick check's scale, then half size for the full analysis if that is another.
      const models = (quickScale === null ? [2] : e.answer.kind === 'analysed' && quickScale !== 2 ? [quickScale, 2] : [quickScale]).map(flagOf);
      const expected = e.asked.likelyStill ? [cv.IMREAD_REDUCED_GRAYSCALE_8, ...(e.answer.kind === 'gated' ? [] : models)] : models;
      assert.deepEqual(e.decodes, expected, `${v.name}, request ${i} (${e.answer.kind}, quick check at 1/${quickScale ?? '-'}, likely still ${e.asked.likelyStill})`);
      seen.add(`${e.asked.likelyStill ? 'likely still, ' : ''}${e.answer.kind} ${e.decodes.length}`);
    }
  }
  // Every path was taken: gated, quick, full in one decode; a failed quick check at 1/4 followed by the 1/2 decode;
  // after a gated frame, gated again on the 1/8 decode alone, or changed and decoded again for the models.
  for (const path of ['analysed 1', 'analysed 2', 'gated 1', 'quick 1', 'likely still, gated 1', 'likely still, analysed 2']) assert.ok(seen.has(path), `${path} not seen: ${[...seen].join('; ')}`);
});

test('one decode gives the same answers and thumbnails as the three decodes did, on consecutive frames of the sample videos', { timeout: 120_000 }, async () => {
  const limits: GateLimits = { mean: 3, peak: 16 };
  let compared = 0;
  for (const v of frames) {
    const before = await replay(v, threeDecodes);
    const after = await replay(v, oneDecode);
    assert.equal(after.length, before.length);
    for (const [i, b] of before.entries()) {
      const a = after[i]!;
      const where = `${v.name} at ${(i * 0.2).toFixed(1)} s`;
      // The thumbnail, made from the 1/2 or 1/4 decode, is the 1/8 decode's to a gray level or two.
      let peak = 0;
      for (let p = 0; p < a.answer.thumbnail.gray.length; p++) peak = Math.max(peak, Math.abs(a.answer.thumbnail.gray[p]! - b.answer.thumbnail.gray[p]!));
      assert.ok(peak <= 2, `${where}: thumbnails differ by ${peak} gray levels`);
      if (a.answer.kind !== b.answer.kind) {
        // Only a frame that sat on the gate's limit may fall on the other side of it.
        const d = b.answer.difference;
        assert.ok(d && (Math.abs(d.peak - limits.peak) <= 2 || Math.abs(d.mean - limits.mean) <= 0.2), `${where}: ${b.answer.kind} became ${a.answer.kind} (difference ${JSON.stringify(d)})`);
        assert.ok(a.answer.kind !== 'analysed' && b.answer.kind !== 'analysed', `${where}: ${b.answer.kind} became ${a.answer.kind}`);
        continue;
      }
      compared++;
      if (a.answer.kind !== 'gated' && b.answer.kind !== 'gated') assert.deepEqual(a.answer.result, b.answer.result, where);
    }
  }
  assert.ok(compared >= 190, `${compared} requests answered alike`);
});
