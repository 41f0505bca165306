import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RenderThrottle } from '../src/tui/render-throttle';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('redraws never exceed the budget in any one second, however fast keys come; a key after a quiet spell is drawn at once', { timeout: 20_000 }, async () => {
  const at: number[] = [];
  const r = new RenderThrottle(() => at.push(performance.now()), 10, 250);
  // Keys every 5 ms and events in between for 1.6 s: far more requests than the budget.
  const until = performance.now() + 1600;
  while (performance.now() < until) {
    r.request(true);
    r.request(false);
    await tick(5);
  }
  await tick(300);
  for (let a = 0, b = 0; b < at.length; b++) {
    while (at[b]! - at[a]! >= 1000) a++;
    assert.ok(b - a + 1 <= 10, `${b - a + 1} redraws within one second`);
  }
  assert.ok(at.length >= 10, `${at.length} redraws: the budget is used, not starved`);

  // After more than a second of quiet, a key is drawn on the next turn of the event loop (not after an interval).
  await tick(1100);
  const before = at.length;
  const sent = performance.now();
  r.request(true);
  await tick(0);
  await tick(0);
  assert.equal(at.length, before + 1, 'drawn right away');
  assert.ok(at.at(-1)! - sent < 1000);

  // Lazy requests (events) wait their interval after the last redraw and share it.
  const lazyFrom = at.length;
  for (let i = 0; i < 50; i++) r.request(false);
  await tick(0);
  assert.equal(at.length, lazyFrom, 'not drawn at once');
  await tick(400);
  assert.equal(at.length, lazyFrom + 1, 'fifty events, one redraw');
  r.close();
  r.request(true);
  await tick(10);
  assert.equal(at.length, lazyFrom + 1, 'nothing after close');
});
