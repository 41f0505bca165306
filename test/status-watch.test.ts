import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { runStatus } from '../src/cli/status';
import { runVigil, startServer, tempDir, waitUntil } from './helpers';

test('status --watch refreshes many times without piling abort listeners on its signal', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, tempDir(t));
  const ac = new AbortController();
  let refreshes = 0;
  let mostListeners = 0;
  const out = {
    isTTY: false,
    write: (): boolean => {
      refreshes++;
      mostListeners = Math.max(mostListeners, getEventListeners(ac.signal, 'abort').length);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));

  const done = runStatus({ adminSocket: server.adminSocket, json: true, watch: 0.01, out, signal: ac.signal });
  await waitUntil('40 refreshes of status --watch', () => refreshes >= 40, { everyMs: 20 });
  ac.abort();
  assert.equal(await done, 0);
  assert.ok(mostListeners <= 1, `at most one abort listener at a time (saw ${mostListeners})`);
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'none left after the run');
  assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
});

test('vigil status --watch runs through many refreshes with no listener-leak warning and stops on Ctrl-C', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, tempDir(t));
  const watch = runVigil(t, ['status', '--admin-socket', server.adminSocket, '--watch', '0.1']);
  const tables = (): number => (watch.stdout().match(/^vigil \S+ on .* candidate\(s\)/gm) ?? []).length;
  await waitUntil('15 refreshed tables from vigil status --watch', () => tables() >= 15, { seen: () => watch.stdout().slice(-300) });
  watch.proc.kill('SIGINT');
  const r = await watch.done;
  assert.equal(r.code, 0);
  assert.doesNotMatch(r.stderr, /MaxListenersExceededWarning|memory leak/);
});
