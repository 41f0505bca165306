import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectorPool } from '../src/detect';
import type { GatedAnalysis, GateLimits, Thumbnail } from '../src/detect/motion-gate';
import { loadOpenCV } from '../src/detect/opencv';
import type { FaceBox } from '../src/detect/types';
import { VideoFileSource } from '../src/media/video-file';
import { LatestFrameSlot } from '../src/server/frame-slot';
import { MAX_REFERENCE_AGE_MS, MotionMemory } from '../src/server/motion-memory';
import { sleep, video } from './helpers';

let pool: DetectorPool;
const videos = new Map<string, { fps: number; jpegs: Buffer[] }>();
before(async () => {
  pool = await DetectorPool.start({ detector: 'dnn', thresholds: DEFAULT_THRESHOLDS, size: 1 });
  for (const name of ['candidate-ok.mp4', 'candidate-incidents.mp4']) {
    const src = await VideoFileSource.open(video(name), { width: 640, height: 480, quality: 80 });
    const jpegs: Buffer[] = [];
    for await (const j of src.frames()) jpegs.push(j);
    videos.set(name, { fps: src.fps, jpegs });
  }
});
after(() => pool.close());

const frameAt = (name: string, s: number): Buffer => {
  const v = videos.get(name)!;
  return v.jpegs[Math.round(s * v.fps)]!;
};

interface Entry {
  atMs: number;
  kind: GatedAnalysis['kind'];
  /** Whether the request asked for the quick check (the last full result was ok with one face). */
  askedQuick: boolean;
}

/** A MotionMemory over the real pool on a clock the test moves, logging what each request became. */
function memory(): { memory: MotionMemory; log: Entry[]; clock: { ms: number } } {
  const log: Entry[] = [];
  const clock = { ms: 0 };
  const analyzer = {
    analyzeUnlessStill: async (jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits, lastFace?: FaceBox | null) => {
      const a = await pool.analyzeUnlessStill(jpeg, reference, limits, lastFace ?? null);
      log.push({ atMs: clock.ms, kind: a.kind, askedQuick: Boolean(reference && lastFace) });
      return a;
    },
  };
  return { memory: new MotionMemory(analyzer, undefined, () => clock.ms), log, clock };
}

test('a face moving slowly gets quick answers between full analyses, and a full analysis at least once a second', { timeout: 120_000 }, async () => {
  const { memory: m, log, clock } = memory();
  const verdicts: string[] = [];
  // candidate-ok.mp4's first 10 s at 5 analyses/s: a slow pan and zoom over one face.
  for (let t = 0; t < 10; t += 0.2) {
    clock.ms = Math.round(t * 1000);
    verdicts.push((await m.analyze(frameAt('candidate-ok.mp4', t))).verdict);
  }
  const count = (k: GatedAnalysis['kind']): number => log.filter((e) => e.kind === k).length;
  assert.equal(log[0]!.kind, 'analysed');
  assert.equal(m.quick, count('quick'));
  assert.equal(m.analysed, count('analysed'));
  assert.ok(m.quick >= log.length / 3, `${m.quick} quick, ${m.gated} gated, ${m.analysed} full of ${log.length}`);
  assert.deepEqual([...new Set(verdicts)], ['ok']);
  // A quick (or gated) answer never refreshes the last full analysis: one runs at least once a second.
  let lastFull = 0;
  for (const e of log) {
    if (e.kind === 'analysed') {
      assert.ok(e.atMs - lastFull <= MAX_REFERENCE_AGE_MS, `full analyses at ${lastFull} and ${e.atMs} ms`);
      lastFull = e.atMs;
    } else assert.ok(e.atMs - lastFull < MAX_REFERENCE_AGE_MS, `${e.kind} answer ${e.atMs - lastFull} ms after the last full analysis`);
  }
  assert.ok(count('analysed') >= 10, `${count('analysed')} full analyses in 10 s`);
});

test('the hard cuts to no face and to two faces are never answered quick, and only an ok verdict asks for the quick check', { timeout: 120_000 }, async () => {
  const expected: Array<[number, string]> = [
    [6, 'no_face'],
    [18, 'multiple_faces'],
  ];
  for (const [cut, verdict] of expected) {
    const { memory: m, log, clock } = memory();
    // 0.7 s before the cut at 5/s (so that the last full analysis is still the reference), then 0.7 s after it.
    const times = Array.from({ length: 8 }, (_, i) => cut - 0.7 + i * 0.2);
    const first = times.findIndex((t) => t > cut);
    for (const [i, t] of times.entries()) {
      clock.ms = i * 200;
      const r = await m.analyze(frameAt('candidate-incidents.mp4', t));
      if (i >= first) {
        assert.notEqual(log[i]!.kind, 'quick', `${t.toFixed(1)} s, after the cut at ${cut} s, was answered quick`);
        assert.equal(r.verdict, verdict, `${t.toFixed(1)} s, after the cut at ${cut} s`);
      }
    }
    assert.ok(log[first]!.askedQuick, `the first frame after the cut at ${cut} s was tried quick (the face before it was ok)`);
    assert.ok(log.slice(first + 1).every((e) => !e.askedQuick), `after ${verdict}, no frame asks for the quick check`);
  }
});

test('a face that moves to touch the frame\'s edge is not answered quick', { timeout: 120_000 }, async () => {
  const cv = loadOpenCV();
  const jpeg = frameAt('candidate-ok.mp4', 3);
  const face = (await pool.analyze(jpeg)).faces[0]!;
  // The same picture shifted so that the face stands well clear of the left edge, then against it: a move of
  // 48 px, less than half the face's width, the same size, so only the edge rule can refuse the quick answer.
  const shifted = (faceX: number): Buffer => {
    const img = cv.imdecode(jpeg);
    const d = face.x - faceX;
    const out = d > 0 ? img.copyMakeBorder(0, 0, 0, d, cv.BORDER_REPLICATE).getRegion(new cv.Rect(d, 0, 640, 480)) : img.copyMakeBorder(0, 0, -d, 0, cv.BORDER_REPLICATE).getRegion(new cv.Rect(0, 0, 640, 480));
    return cv.imencode('.jpg', out, [cv.IMWRITE_JPEG_QUALITY, 90]);
  };
  assert.ok(face.w > 2 * 48, `face ${face.w} px wide`);
  const { memory: m, log, clock } = memory();
  const clear = await m.analyze(shifted(48));
  assert.equal(clear.verdict, 'ok');
  assert.ok(clear.faces[0]!.x > 0.05 * 640, `face at x ${clear.faces[0]!.x}`);
  // The same frame a little later is still quick: the refusal below is the edge's doing.
  clock.ms = 200;
  await m.analyze(shifted(40));
  assert.equal(log.at(-1)!.kind, 'quick', 'a face moved 8 px, clear of the edge, is answered quick');
  clock.ms = 400;
  const touching = await m.analyze(shifted(0));
  assert.ok(log.at(-1)!.askedQuick);
  assert.equal(log.at(-1)!.kind, 'analysed', `a face touching the edge got a quick answer: ${JSON.stringify(touching.faces)}`);
});

test('the detector slot counts quick answers apart, in its stats and status figures', { timeout: 120_000 }, async () => {
  let verdicts = 0;
  const slot = new LatestFrameSlot(pool, 200, () => verdicts++, (err) => assert.fail(String(err)));
  const deadline = Date.now() + 60_000;
  // candidate-ok.mp4 at 15 fps in real time until a few quick answers came.
  for (let i = 0; slot.quick < 3 && Date.now() < deadline; i = (i + 1) % videos.get('candidate-ok.mp4')!.jpegs.length) {
    slot.offer(videos.get('candidate-ok.mp4')!.jpegs[i]!, i * 66);
    await sleep(66);
  }
  slot.close();
  const f = slot.stats.figures(1000);
  assert.ok(slot.quick >= 3, `${slot.quick} quick answers`);
  assert.equal(f.analysis_quick, slot.quick);
  assert.equal(f.analysis_gated, slot.gated);
  assert.ok(f.analyses >= 1);
  assert.equal(f.analyses + f.analysis_gated + f.analysis_quick, verdicts);
});
