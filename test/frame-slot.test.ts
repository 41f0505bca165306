import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectorPool } from '../src/detect';
import { LatestFrameSlot, type FrameAnalysis } from '../src/server/frame-slot';
import { MEDIA, waitUntil } from './helpers';

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
