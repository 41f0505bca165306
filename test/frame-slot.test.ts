import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectorPool } from '../src/detect';
import { AnalysisStats } from '../src/server/analysis-stats';
import { LatestFrameSlot, type FrameAnalysis } from '../src/server/frame-slot';
import { MEDIA, sleep } from './helpers';

const result = (verdict: FrameAnalysis['verdict']): FrameAnalysis => ({ width: 1, height: 1, faces: [], verdict, confidence: 1, why: '' });

test('the detector slot keeps only the newest frame while the analyzer is busy, and never blocks the caller', async () => {
  const analysed: number[] = [];
  const slot = new LatestFrameSlot(
    {
      analyze: async (_jpeg, ts) => {
        await sleep(100);
        analysed.push(ts);
        return result('ok');
      },
    },
    0,
    () => undefined,
    (err) => assert.fail(String(err)),
  );
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) {
    slot.offer(Buffer.alloc(1), i);
    await sleep(20);
  }
  assert.ok(performance.now() - t0 < 400, 'offering never waited for the analyzer');
  await sleep(350);
  slot.close();
  // Frame 0 starts at once; the rest replace each other; the newest one waiting is analysed next.
  assert.equal(analysed[0], 0);
  assert.ok(analysed.length <= 4, `analysed ${analysed.join(',')}`);
  assert.equal(analysed[analysed.length - 1], 9, 'the last frame offered is the last analysed');
  assert.ok(slot.skipped >= 6, `skipped ${slot.skipped}`);
});

test('the slot honours the analysis rate', async () => {
  const starts: number[] = [];
  const slot = new LatestFrameSlot(
    { analyze: async () => (starts.push(performance.now()), result('ok')) },
    100,
    () => undefined,
    () => undefined,
  );
  const stop = performance.now() + 550;
  while (performance.now() < stop) {
    slot.offer(Buffer.alloc(1), 0);
    await sleep(10);
  }
  slot.close();
  assert.ok(starts.length >= 5 && starts.length <= 7, `${starts.length} analyses in 550 ms at 10/s`);
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 95);
});

test('the slot counts analyses, skips and failures, and times each verdict from the frame\'s arrival', async () => {
  const stats = new AnalysisStats();
  let calls = 0;
  let applied = 0;
  const slot = new LatestFrameSlot(
    {
      analyze: async () => {
        calls++;
        await sleep(60);
        if (calls === 2) throw new Error('detector crashed');
        return result('ok');
      },
    },
    0,
    () => applied++,
    () => undefined,
    stats,
  );
  const t0 = performance.now();
  for (let i = 0; i < 30; i++) {
    slot.offer(Buffer.alloc(1), i);
    await sleep(10);
  }
  // Wait for the last frame offered to be analysed, then no more.
  const deadline = performance.now() + 5_000;
  while (stats.analyses + stats.failed < calls || performance.now() - t0 < 400) {
    assert.ok(performance.now() < deadline, 'the slot went idle');
    await sleep(20);
  }
  slot.close();
  assert.equal(stats.failed, 1, 'one failed analysis');
  assert.equal(stats.analyses, applied, 'every applied verdict is counted');
  assert.equal(stats.analyses + stats.failed, calls);
  assert.equal(stats.skipped, slot.skipped);
  assert.equal(stats.analyses + stats.failed + stats.skipped, 30, 'every frame offered was analysed, failed or skipped');
  const f = stats.figures(performance.now() - t0);
  assert.equal(f.analyses, applied);
  assert.ok(f.analysis_rate > 0, `rate ${f.analysis_rate}`);
  const v = f.verdict_latency_ms!;
  const c = f.change_latency_ms!;
  assert.equal(v.n, applied);
  // A verdict cannot come sooner than the analysis takes; a change can only be reported as late or later.
  assert.ok(v.p50 >= 55 && v.p50 <= v.p99 && v.p99 <= v.max, JSON.stringify(v));
  assert.ok(c.p50 >= v.p50 && c.max >= v.max, `change ${JSON.stringify(c)} vs verdict ${JSON.stringify(v)}`);
});

test('analysis figures keep a bounded window: the percentiles cover only the most recent verdicts', () => {
  const stats = new AnalysisStats();
  const now = 100_000;
  for (let i = 0; i < 1000; i++) stats.record('detected', 1000, 1000, now - 10_000);
  for (let i = 0; i < 300; i++) stats.record(i % 3 === 0 ? 'gated' : 'detected', 10 + (i % 10), 20, now - 4_000 + i);
  const f = stats.figures(60_000, now);
  assert.equal(f.analyses, 1200);
  assert.equal(f.analysis_gated, 100);
  assert.deepEqual(f.verdict_latency_ms, { p50: 15, p99: 19, max: 19, n: 256 });
  assert.deepEqual(f.change_latency_ms, { p50: 20, p99: 20, max: 20, n: 256 });
  // 300 verdicts within the last 5 s: more than the ring holds, so the rate comes from the span it covers.
  assert.ok(f.analysis_rate > 50, `rate ${f.analysis_rate}`);
  const quiet = new AnalysisStats();
  for (let i = 0; i < 10; i++) quiet.record('detected', 5, 5, now - 9_500 + i * 1000);
  assert.equal(quiet.figures(60_000, now).analysis_rate, 1, '5 verdicts in the last 5 s');
  assert.equal(new AnalysisStats().figures(1000, now).verdict_latency_ms, null);
});

test('a detector process that dies is replaced; frames keep being analysed', { timeout: 60_000 }, async () => {
  const pool = await DetectorPool.start({ detector: 'dnn', thresholds: DEFAULT_THRESHOLDS, size: 1 });
  try {
    const jpeg = readFileSync(path.join(MEDIA, 'faces', 'grace-hopper.jpg'));
    assert.equal((await pool.analyze(jpeg)).verdict, 'ok');
    const [pid] = pool.pids;
    process.kill(pid!, 'SIGKILL');
    // The frame in flight (if any) fails; later ones are analysed by the new process.
    const deadline = Date.now() + 30_000;
    let verdict = '';
    while (Date.now() < deadline) {
      try {
        verdict = (await pool.analyze(jpeg)).verdict;
        break;
      } catch {
        await sleep(200);
      }
    }
    assert.equal(verdict, 'ok');
    assert.notEqual(pool.pids[0], pid);
  } finally {
    await pool.close();
  }
});
