import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectorPool } from '../src/detect';
import { AnalysisStats } from '../src/server/analysis-stats';
import { LatestFrameSlot, type FrameAnalysis } from '../src/server/frame-slot';
import { MEDIA, sleep, waitUntil } from './helpers';

const result = (verdict: FrameAnalysis['verdict']): FrameAnalysis => ({ width: 1, height: 1, faces: [], verdict, confidence: 1, why: '' });

test('the detector slot keeps only the newest frame while the analyzer is busy, and never blocks the caller', async () => {
  // The analyzer finishes only when the test says so, so "busy" is a state the test holds, not a guess at timing.
  const started: number[] = [];
  const analysed: number[] = [];
  const finish: Array<() => void> = [];
  const slot = new LatestFrameSlot(
    {
      analyze: (_jpeg, ts) =>
        new Promise<FrameAnalysis>((resolve) => {
          started.push(ts);
          finish.push(() => {
            analysed.push(ts);
            resolve(result('ok'));
          });
        }),
    },
    0,
    () => undefined,
    (err) => assert.fail(String(err)),
  );
  // offer() is synchronous: all ten return while frame 0 is still being analysed.
  for (let i = 0; i < 10; i++) slot.offer(Buffer.alloc(1), i);
  assert.deepEqual(started, [0], 'frame 0 went to the analyzer at once, the rest wait');
  assert.equal(slot.skipped, 8, 'frames 1-8 were replaced by newer ones');
  finish.shift()!();
  await waitUntil('the next analysis to start', () => started.length === 2, { everyMs: 5 });
  assert.deepEqual(started, [0, 9], 'the newest waiting frame is analysed next');
  finish.shift()!();
  await waitUntil('frame 9 analysed', () => analysed.length === 2, { everyMs: 5 });
  slot.close();
  assert.deepEqual(analysed, [0, 9]);
  assert.equal(slot.skipped, 8);
});

test('the slot honours the analysis rate', async () => {
  const starts: number[] = [];
  const slot = new LatestFrameSlot(
    { analyze: async () => (starts.push(performance.now()), result('ok')) },
    100,
    () => undefined,
    () => undefined,
  );
  // Frames offered every 10 ms; analyses must still start at least 100 ms apart (timers never fire early).
  await waitUntil('six analyses', () => {
    slot.offer(Buffer.alloc(1), 0);
    return starts.length >= 6;
  }, { everyMs: 10 });
  slot.close();
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 95, `analyses ${i - 1} and ${i} ${(starts[i]! - starts[i - 1]!).toFixed(1)} ms apart`);
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
    let verdict = '';
    await waitUntil('a frame analysed by the replacement process', async () => {
      verdict = await pool.analyze(jpeg).then((r) => r.verdict, () => '');
      return verdict !== '';
    }, { timeoutMs: 30_000, everyMs: 200 });
    assert.equal(verdict, 'ok');
    assert.notEqual(pool.pids[0], pid);
  } finally {
    await pool.close();
  }
});
