import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_THRESHOLDS, DetectError, DetectorPool, type DetectorHealth, type PoolOptions } from '../src/detect';
import { tempDir, waitUntil } from './helpers';

/** A stand-in detector process (test/fixtures/detector-worker.ts): crashes, hangs or answers as its mode file says. */
const FIXTURE = path.join(__dirname, 'fixtures', 'detector-worker.js');
const JPEG = Buffer.from('ffd8ffe000104a464946', 'hex');

interface Logged {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
  at: number;
}

function fixturePool(t: { after(fn: () => unknown): void }, opts: Partial<PoolOptions> = {}): { setMode(m: string): void; logs: Logged[]; start(): Promise<DetectorPool> } {
  const modeFile = path.join(tempDir(t), 'mode');
  writeFileSync(modeFile, 'ok');
  // The pool's processes inherit this process's environment; each test file runs in its own process.
  process.env['VIGIL_FIXTURE_MODE_FILE'] = modeFile;
  const logs: Logged[] = [];
  const log = (level: Logged['level']) => (obj: object, msg: string) => void logs.push({ level, obj: { ...obj }, msg, at: performance.now() });
  return {
    setMode: (m) => writeFileSync(modeFile, m),
    logs,
    start: async () => {
      const pool = await DetectorPool.start({
        detector: 'dnn',
        thresholds: DEFAULT_THRESHOLDS,
        workerPath: FIXTURE,
        log: { info: log('info'), warn: log('warn'), error: log('error') },
        ...opts,
      });
      t.after(() => pool.close());
      return pool;
    },
  };
}

const until = (what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> => waitUntil(what, cond, { timeoutMs, everyMs: 10 });

const code = (e: unknown): string => (e instanceof DetectError ? e.code : String(e));

test('a detector that crashes on every frame: the pool goes down, refuses at once, retries with backoff, and comes back', { timeout: 60_000 }, async (t) => {
  const f = fixturePool(t, { size: 2, retryBaseMs: 100, retryMaxMs: 800 });
  const pool = await f.start();
  const health: DetectorHealth[] = [];
  pool.onHealth((h) => health.push(h));
  assert.equal((await pool.analyze(JPEG)).verdict, 'ok');

  f.setMode('crash');
  // Frames keep coming, as the server's per-candidate slots would send them, while the processes crash.
  const outcomes: string[] = [];
  let feeding = true;
  const feeder = (async () => {
    while (feeding) {
      await pool.analyze(JPEG).then(
        () => outcomes.push('ok'),
        (e: unknown) => outcomes.push(code(e)),
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  t.after(() => (feeding = false));
  await until('the pool to go down', () => health.length > 0);
  assert.equal(health[0]!.up, false);
  assert.match(health[0]!.up ? '' : health[0]!.reason, /died \(exit 3: fixture: crashing on this frame\)/);
  assert.equal(pool.health.up, false);

  // Down: a frame is refused at once with a typed error, it does not wait for a process.
  await until('no process idle on probation', () => pool.pids.length === 0);
  const t0 = performance.now();
  await assert.rejects(pool.analyze(JPEG), (e: unknown) => code(e) === 'VIGIL_ERR_DETECTOR_DOWN');
  // Bounded generously for a loaded machine: a queued frame would wait for a process to load (seconds).
  assert.ok(performance.now() - t0 < 250, `refused after ${(performance.now() - t0).toFixed(0)} ms`);

  // Let a few retries fail: each restarted process crashes on the one frame it is given, and waits grow.
  await until('three retries', () => f.logs.filter((l) => l.msg.startsWith('retrying face detection')).length >= 3, 20_000);
  // Each retry waited twice as long as the one before (base 100 ms), capped at 800 ms.
  const waits = f.logs.filter((l) => l.msg.startsWith('retrying face detection')).map((l) => l.obj['afterMs']);
  assert.deepEqual(waits.slice(0, 3), [100, 200, 400]);
  assert.ok(waits.every((w) => typeof w === 'number' && w <= 800), waits.join(','));
  const deaths = f.logs.filter((l) => l.level === 'error' && l.msg.startsWith('detector process died')).length;
  assert.ok(deaths >= 5, `every death logged at error (${deaths})`);
  assert.ok(outcomes.includes('VIGIL_ERR_DETECTOR_CRASH') && outcomes.includes('VIGIL_ERR_DETECTOR_DOWN'), outcomes.join(','));
  assert.equal(health.length, 1, 'down is announced once, not per failed retry');

  f.setMode('ok');
  await until('the pool to come back', () => health.length === 2, 20_000);
  assert.deepEqual(health[1], { up: true });
  await until('the pool to refill', () => pool.pids.length === 2);
  feeding = false;
  await feeder;
  assert.equal((await pool.analyze(JPEG)).verdict, 'ok');
  assert.ok(f.logs.some((l) => l.level === 'info' && l.msg === 'face detection is back'));
});

test('a hung detector process leaves the pool at the job timeout, is killed and replaced', { timeout: 30_000 }, async (t) => {
  const f = fixturePool(t, { size: 1, jobTimeoutMs: 300 });
  const pool = await f.start();
  const [hungPid] = pool.pids;
  f.setMode('hang');
  const t0 = performance.now();
  await assert.rejects(pool.analyze(JPEG), (e: unknown) => code(e) === 'VIGIL_ERR_DETECTOR_TIMEOUT');
  const waited = performance.now() - t0;
  assert.ok(waited >= 290 && waited < 3_000, `timed out after ${waited.toFixed(0)} ms`);
  // At once: not in the pool any more, whether or not its exit has arrived yet.
  assert.ok(!pool.pids.includes(hungPid!), 'the hung process left the pool at the timeout');
  await until('the hung process to be killed', () => !alive(hungPid!));
  f.setMode('ok');
  await until('a replacement process', () => pool.pids.length === 1 && pool.pids[0] !== hungPid);
  assert.equal((await pool.analyze(JPEG)).verdict, 'ok');
  assert.equal(pool.health.up, true, 'one hang is not an outage');
  assert.ok(f.logs.some((l) => l.level === 'error' && /hung \(no result within 300 ms\)/.test(l.msg)));
});

test('a detector process that cannot be restarted: every failed restart is logged at error, then the pool is down', { timeout: 30_000 }, async (t) => {
  const f = fixturePool(t, { size: 1, retryBaseMs: 60_000, retryMaxMs: 120_000 });
  const pool = await f.start();
  const health: DetectorHealth[] = [];
  pool.onHealth((h) => health.push(h));
  f.setMode('fail-load');
  process.kill(pool.pids[0]!, 'SIGKILL');
  await until('the pool to go down', () => health.length > 0);
  const failedRestarts = f.logs.filter((l) => l.level === 'error' && l.msg.startsWith('detector process could not be restarted'));
  assert.equal(failedRestarts.length, 2, 'a death and two failed restarts make three failures in a row');
  assert.match(failedRestarts[0]!.msg, /fixture: the model cannot be loaded/);
  assert.ok(!health[0]!.up && health[0]!.retryInMs !== null && health[0]!.retryInMs > 50_000, `the next retry is scheduled: ${JSON.stringify(health[0])}`);
  await assert.rejects(pool.analyze(JPEG), (e: unknown) => code(e) === 'VIGIL_ERR_DETECTOR_DOWN');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
