import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { analyzeJpeg, createDetector, type FaceDetector } from '../src/detect/analyze';
import { analyzeUnlessStill, GATE_LIMITS, THUMB_H, THUMB_W } from '../src/detect/motion-gate';
import { loadOpenCV, type CV } from '../src/detect/opencv';
import { PixelBuffer } from '../src/detect/pixels';
import { DetectError } from '../src/detect/types';
import { DEFAULT_THRESHOLDS } from '../src/detect/verdict';
import { VideoFileSource } from '../src/media/video-file';
import { video } from './helpers';

/*
 * OpenCV reports every Mat it allocates to V8 as external memory, and Mats left for the GC to free made the
 * detector processes run a major GC every few dozen frames. The detector frees each one as soon as it is done.
 */
let cv: CV;
let detector: FaceDetector;
/** candidate-incidents.mp4 once a second: a face, no face (the edge scan), a face cut by the edge, two faces. */
const frames: Buffer[] = [];

before(async () => {
  cv = loadOpenCV();
  detector = await createDetector(cv, { detector: 'dnn', thresholds: DEFAULT_THRESHOLDS });
  const src = await VideoFileSource.open(video('candidate-incidents.mp4'), { width: 640, height: 480, quality: 80 });
  let i = 0;
  for await (const j of src.frames()) if (i++ % Math.round(src.fps) === 0) frames.push(j);
});

test('analysing frames, quick checks and gated frames leave no OpenCV memory behind for the GC', { timeout: 120_000 }, async () => {
  assert.ok(cv.isCustomMatAllocatorEnabled(), 'opencv4nodejs tracks Mat memory (OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING is not set)');
  assert.ok(frames.length >= 25, `${frames.length} frames`);
  const before = cv.getMemMetrics();
  const verdicts = new Set<string>();
  const kinds = new Map<string, number>();
  const count = (k: string): void => void kinds.set(k, (kinds.get(k) ?? 0) + 1);
  for (const jpeg of frames) {
    const r = await analyzeJpeg(cv, detector, jpeg, DEFAULT_THRESHOLDS);
    verdicts.add(r.verdict);
    // A flat reference: the frame changed, so a face gets the quick check (and a failed one the cascade).
    const flat = { width: r.width, height: r.height, gray: new Uint8Array(THUMB_W * THUMB_H).fill(128) };
    const changed = await analyzeUnlessStill(cv, detector, jpeg, flat, GATE_LIMITS, DEFAULT_THRESHOLDS, r.faces.length === 1 ? r.faces[0]! : null);
    count(changed.kind);
    // Its own thumbnail as the reference, hinted still and not: gated after a gray or a colour decode.
    for (const likelyStill of [true, false]) {
      const still = await analyzeUnlessStill(cv, detector, jpeg, changed.thumbnail, GATE_LIMITS, DEFAULT_THRESHOLDS, null, likelyStill);
      count(still.kind);
    }
  }
  const quick = kinds.get('quick') ?? 0;
  assert.ok((kinds.get('gated') ?? 0) === frames.length * 2, `${kinds.get('gated')} gated of ${frames.length * 2}`);
  assert.ok((kinds.get('analysed') ?? 0) > 0, 'a changed frame without a face had the full analysis');
  // Every path ran: the cascade on one face, on several, on none (with the edge scan), and the quick check.
  for (const v of ['ok', 'no_face', 'multiple_faces']) assert.ok(verdicts.has(v), `${[...verdicts].join(', ')} lacks ${v}`);
  assert.ok(quick > 10, `${quick} quick checks`);
  const after = cv.getMemMetrics();
  assert.ok(after.NumAllocations - before.NumAllocations > frames.length, 'Mats were allocated');
  assert.equal(after.TotalAlloc, before.TotalAlloc, `${after.TotalAlloc - before.TotalAlloc} bytes of Mats still allocated`);
});

test('a PixelBuffer reads an image or a region of one, and refuses another size', () => {
  const img = new cv.Mat(40, 50, cv.CV_8UC3);
  const bytes = Buffer.alloc(40 * 50 * 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 255;
  img.setData(bytes);
  const whole = new PixelBuffer(40, 50);
  assert.deepEqual(whole.read(img), bytes);
  const region = img.getRegion(new cv.Rect(10, 5, 20, 30));
  const part = new PixelBuffer(30, 20);
  assert.deepEqual(part.read(region), region.copy().getData());
  // The same buffer, overwritten: nothing allocated per read.
  assert.equal(part.read(img.getRegion(new cv.Rect(0, 0, 20, 30))), part.bytes);
  assert.throws(() => part.read(img), (e: unknown) => e instanceof DetectError && e.code === 'VIGIL_ERR_DETECTOR_CRASH');
  assert.throws(() => whole.read(img.cvtColor(cv.COLOR_BGR2GRAY)), DetectError);
});
