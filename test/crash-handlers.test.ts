import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const CRASH_MODULE = path.join(__dirname, '..', 'src', 'cli', 'crash.js');

/** Runs a script in a fresh node process with the CLI's crash handlers installed; what a vigil process would do. */
function runWithHandlers(body: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `const c = require(${JSON.stringify(CRASH_MODULE)}); c.installCrashHandlers();\n${body}`;
  const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => p.once('close', (code) => resolve({ code, stdout, stderr })));
}

test('an unhandled rejection is logged and the process carries on', { timeout: 20_000 }, async () => {
  const r = await runWithHandlers(`
    c.onCrash({ report: (kind, err) => process.stdout.write('reported ' + kind + ' ' + err.message + '\\n') });
    Promise.reject(new Error('nobody handled me'));
    setImmediate(() => process.stdout.write('still running\\n'));`);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /^vigil: internal error \(unhandled_rejection\): Error: nobody handled me/m);
  assert.match(r.stdout, /reported unhandled_rejection nobody handled me\nstill running/);
});

test('an uncaught exception is logged, the cleanup runs, and the process exits with the internal-error code', { timeout: 20_000 }, async () => {
  const r = await runWithHandlers(`
    c.onCrash({
      report: (kind, err) => process.stdout.write('reported ' + kind + ' ' + err.message + '\\n'),
      cleanup: async () => { await new Promise((r) => setImmediate(r)); process.stdout.write('cleanup ran\\n'); },
    });
    setImmediate(() => { throw new Error('boom'); });
    setInterval(() => undefined, 1000); // a live handle: only the handler's exit ends this process`);
  assert.equal(r.code, 70);
  assert.match(r.stderr, /^vigil: internal error \(uncaught_exception\): Error: boom/m);
  assert.equal(r.stdout, 'reported uncaught_exception boom\ncleanup ran\n');
});

test('a cleanup that hangs does not keep a crashed process alive forever', { timeout: 30_000 }, async () => {
  const r = await runWithHandlers(`
    c.onCrash({ cleanup: () => new Promise(() => undefined) });
    setImmediate(() => { throw new Error('boom'); });
    setInterval(() => undefined, 1000);`);
  assert.equal(r.code, 70);
  assert.match(r.stderr, /internal error \(uncaught_exception\): Error: boom/);
});
