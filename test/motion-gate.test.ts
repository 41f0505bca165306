import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectorPool } from '../src/detect';
import type { GatedAnalysis, GateLimits, Thumbnail } from '../src/detect/motion-gate';
import { VideoFileSource } from '../src/media/video-file';
import { LatestFrameSlot, type FrameAnalysis } from '../src/server/frame-slot';
import { MAX_REFERENCE_AGE_MS, MotionMemory } from '../src/server/motion-memory';
import { MEDIA, sleep, video } from './helpers';

let pool: DetectorPool;
before(async () => {
  pool = await DetectorPool.start({ detector: 'dnn', thresholds: DEFAULT_THRESHOLDS, size: 1 });
});
after(() => pool.close());

/** The pool, recording what each gated request became and when it was sent. */
function recording(): { analyzer: Pick<DetectorPool, 'analyze' | 'analyzeUnlessStill'>; log: Array<{ atMs: number; kind: GatedAnalysis['kind'] }> } {
  const log: Array<{ atMs: number; kind: GatedAnalysis['kind'] }> = [];
  return {
    log,
    analyzer: {
      analyze: (jpeg) => pool.analyze(jpeg),
      analyzeUnlessStill: async (jpeg: Buffer, reference: Thumbnail | null, limits: GateLimits) => {
        const atMs = performance.now();
        const a = await pool.analyzeUnlessStill(jpeg, reference, limits);
        log.push({ atMs, kind: a.kind });
        return a;
      },
    },
  };
}

test('a still picture is gated after its first analysis, and fully analysed again at least once a second', { timeout: 60_000 }, async () => {
  const jpeg = readFileSync(path.join(MEDIA, 'faces', 'grace-hopper.jpg'));
  const { analyzer, log } = recording();
  const verdicts: FrameAnalysis['verdict'][] = [];
  const slot = new LatestFrameSlot(analyzer, 200, (r) => verdicts.push(r.verdict), (err) => assert.fail(String(err)));
  // 15 fps at 5 analyses/s for a bit over 2.5 s of analyses.
  const deadline = Date.now() + 30_000;
  while (log.length < 13 && Date.now() < deadline) {
    slot.offer(jpeg, 0);
    await sleep(66);
  }
  slot.close();
  assert.equal(log[0]?.kind, 'analysed');
  const full = log.filter((e) => e.kind === 'analysed');
  assert.ok(slot.gated >= 6, `${slot.gated} of ${log.length} frames gated`);
  assert.equal(slot.gated, log.length - full.length);
  assert.ok(full.length >= 2, `${full.length} full analyses over ${((log.at(-1)!.atMs - log[0]!.atMs) / 1000).toFixed(1)} s`);
  // Never a gated frame when the last full analysis was sent a second or more before it.
  let lastFull = log[0]!.atMs;
  for (const e of log) {
    if (e.kind === 'analysed') lastFull = e.atMs;
    else assert.ok(e.atMs - lastFull < MAX_REFERENCE_AGE_MS, `gated ${Math.round(e.atMs - lastFull)} ms after the last full analysis`);
  }
  assert.ok(verdicts.length > 0 && verdicts.every((v) => v === 'ok'), 'a gated frame keeps the verdict of the analysed one');
});

test('the hard cuts of candidate-incidents.mp4 are never gated: the new scene is analysed', { timeout: 60_000 }, async () => {
  const src = await VideoFileSource.open(video('candidate-incidents.mp4'), { width: 640, height: 480, quality: 80 });
  const jpegs: Buffer[] = [];
  for await (const j of src.frames()) jpegs.push(j);
  const at = (s: number): Buffer => jpegs[Math.round(s * src.fps)]!;
  const expected: Array<[number, FrameAnalysis['verdict']]> = [
    [6, 'no_face'],
    [12, 'ok'],
    [18, 'multiple_faces'],
    [24, 'ok'],
  ];
  for (const [cut, verdict] of expected) {
    const { analyzer, log } = recording();
    const memory = new MotionMemory(analyzer);
    // The second before the cut, at 5/s: the reference is as fresh as it can be.
    for (let t = cut - 1; t < cut - 0.01; t += 0.2) await memory.analyze(at(t));
    assert.ok(memory.gated + memory.analysed === 5);
    const r = await memory.analyze(at(cut + 0.1));
    assert.equal(log.at(-1)!.kind, 'analysed', `the first frame after the cut at ${cut} s was gated`);
    assert.equal(r.verdict, verdict, `after the cut at ${cut} s`);
  }
  // The same frame twice is gated: the frames above were analysed because they changed.
  const { analyzer, log } = recording();
  const memory = new MotionMemory(analyzer);
  await memory.analyze(at(3));
  await memory.analyze(at(3));
  assert.deepEqual(
    log.map((e) => e.kind),
    ['analysed', 'gated'],
  );
});
