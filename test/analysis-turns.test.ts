import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnalysisTurns } from '../src/server/analysis-turns';
import { LatestFrameSlot, type FrameAnalysis } from '../src/server/frame-slot';
import { waitUntil } from './helpers';

const ok: FrameAnalysis = { width: 1, height: 1, faces: [], verdict: 'ok', confidence: 1, why: '' };

/** Candidates sharing one analyzer whose analyses end only when the test says so. */
function candidates(turns: AnalysisTurns, names: string[]) {
  const started: Array<{ who: string; frame: number }> = [];
  const finish: Array<() => void> = [];
  const slots = new Map(
    names.map((who) => [
      who,
      new LatestFrameSlot(
        {
          analyze: (_jpeg, frame) =>
            new Promise<FrameAnalysis>((resolve) => {
              started.push({ who, frame });
              finish.push(() => resolve(ok));
            }),
        },
        0,
        () => undefined,
        (err) => assert.fail(String(err)),
        undefined,
        turns,
      ),
    ]),
  );
  const offer = (who: string, frame: number): void => slots.get(who)!.offer(Buffer.alloc(1), frame);
  const endOne = async (): Promise<void> => {
    const n = started.length;
    finish.shift()!();
    await waitUntil('the next turn', () => started.length > n || turns.queued === 0, { everyMs: 2, timeoutMs: 5_000 });
  };
  return { started, offer, endOne, close: () => slots.forEach((s) => s.close()) };
}

test('a free turn goes to the candidate analysed longest ago, which then takes its newest frame', async () => {
  const turns = new AnalysisTurns(1);
  const c = candidates(turns, ['a', 'b', 'c']);
  c.offer('a', 1);
  assert.deepEqual(c.started, [{ who: 'a', frame: 1 }], 'a has the one turn at once');
  c.offer('c', 1);
  assert.equal(turns.queued, 1, 'c waits for the turn');
  await c.endOne();
  assert.deepEqual(c.started.at(-1), { who: 'c', frame: 1 });
  // While c is analysed, a (analysed once already) asks before b (never analysed): b still goes first.
  c.offer('a', 2);
  for (let f = 1; f <= 4; f++) c.offer('b', f);
  assert.equal(turns.queued, 2);
  await c.endOne();
  assert.deepEqual(c.started.at(-1), { who: 'b', frame: 4 }, 'b, first in line by its last analysis, analyses its newest frame');
  await c.endOne();
  assert.deepEqual(c.started.at(-1), { who: 'a', frame: 2 });
  await c.endOne();
  assert.equal(turns.active, 0);
  c.close();
});

test('no more analyses than the limit run at once, and a closed slot leaves the line', async () => {
  const turns = new AnalysisTurns(2);
  const c = candidates(turns, ['a', 'b', 'c', 'd']);
  for (const who of ['a', 'b', 'c', 'd']) c.offer(who, 1);
  assert.equal(c.started.length, 2);
  assert.equal(turns.active, 2);
  assert.equal(turns.queued, 2);
  c.close();
  assert.equal(turns.queued, 0, 'closed slots wait for nothing');
  await c.endOne();
  await c.endOne();
  assert.equal(turns.active, 0);
  assert.equal(c.started.length, 2, 'nothing was analysed for a closed slot');
});

test('unlimited turns start every slot at once, as without turns', () => {
  const turns = AnalysisTurns.forProcesses(undefined);
  const c = candidates(turns, ['a', 'b', 'c']);
  for (const who of ['a', 'b', 'c']) c.offer(who, 1);
  assert.equal(c.started.length, 3);
  assert.equal(AnalysisTurns.forProcesses(2).limit, 4);
  c.close();
});
