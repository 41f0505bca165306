import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectorPool } from '../src/detect';
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
