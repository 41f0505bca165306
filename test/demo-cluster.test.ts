import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, tempDir, waitUntil } from './helpers';

test('the cluster demo: three nodes behind HAProxy, six candidates in one view; a killed node\'s candidates move on; Ctrl-C lists the parts', { timeout: 150_000 }, async (t) => {
  const dir = tempDir(t);
  // detached: its own process group, so a group SIGINT is what a terminal's Ctrl-C would deliver.
  const demo = spawn('bash', [path.join(REPO, 'scripts', 'demo-cluster.sh')], {
    cwd: REPO,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VIGIL_DEMO_DIR: dir, VIGIL_DEMO_NO_CONSOLE: '1', VIGIL_DEMO_SERVE_ARGS: '--detector none' },
  });
  let out = '';
  demo.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  demo.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => demo.once('close', (code) => resolve(code)));
  t.after(() => {
    if (demo.exitCode === null) process.kill(-demo.pid!, 'SIGKILL');
  });
  // The status view repeats; only what came after a mark counts.
  let mark = 0;
  const since = (): string => out.slice(mark);

  await waitUntil('six candidates on three nodes', () => /3 live node\(s\), 6 candidate\(s\)/.test(since()), { timeoutMs: 60_000, seen: () => out.slice(-1500) });
  const nodeA = /kill -9 (\d+)` \(node-a\)/.exec(out);
  assert.ok(nodeA, out);
  const onA = /node-a \(default\) on \S+: (\d+) candidate/.exec(out.slice(out.lastIndexOf('3 live node(s), 6')))!;
  assert.ok(Number(onA[1]) >= 1, 'node-a has candidates to lose');
  process.kill(Number(nodeA[1]), 'SIGKILL');
  mark = out.length;
  await waitUntil('node-a gone and all six candidates on the other two', () => /2 live node\(s\), 6 candidate\(s\)/.test(since()), { timeoutMs: 60_000, seen: () => out.slice(-1500) });

  process.kill(-demo.pid!, 'SIGINT');
  await exited;
  assert.match(out, /demo-cluster: recordings/);
  // Each moved session has its second part on a live node, naming node-a as where it began.
  assert.match(out, /part 2 of node-a,node-[bc]/);
});
