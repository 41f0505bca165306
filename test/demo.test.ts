import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Terminal } from '@xterm/headless';
import * as pty from 'node-pty';
import { AdminClient } from '../src/admin/client';
import type { SessionRecord } from '../src/server';
import { REPO, readJson, recordingFacts, tempDir, waitUntil } from './helpers';

test('without a terminal the demo shows the status table; Ctrl-C finalises every recording', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  // detached: its own process group, so a group SIGINT is what a terminal's Ctrl-C would deliver.
  const demo = spawn('bash', [path.join(REPO, 'scripts', 'demo.sh')], {
    cwd: REPO,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VIGIL_DEMO_DIR: dir },
  });
  t.after(() => {
    if (demo.exitCode === null) process.kill(-demo.pid!, 'SIGKILL');
  });
  let out = '';
  demo.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  demo.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => demo.once('close', (code) => resolve(code)));

  await waitUntil('the status view to list three candidates', () => /3 candidate\(s\)/.test(out), { seen: () => out.slice(-1000) });
  for (const id of ['alice', 'bob', 'charlie']) assert.match(out, new RegExp(`^${id}\\s+127\\.0\\.0\\.1`, 'm'));
  // Enough of every candidate recorded to be worth checking (read on the demo's admin socket).
  const admin = await AdminClient.connect(path.join(dir, 'vigil.sock'));
  let recorded: number[] = [];
  await waitUntil('more than 30 frames recorded from each candidate', async () => {
    recorded = (await admin.status()).candidates.map((c) => c.frames_recorded);
    return recorded.length === 3 && recorded.every((n) => n > 30);
  }, { seen: () => recorded });
  admin.close();
  process.kill(-demo.pid!, 'SIGINT');
  await exited;
  assert.match(out, /demo: recordings:/);
  for (const id of ['alice', 'bob', 'charlie']) {
    const sessions = readdirSync(path.join(dir, id));
    assert.equal(sessions.length, 1);
    const sdir = path.join(dir, id, sessions[0]!);
    const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
    assert.notEqual(rec.ended, 'in_progress', `${id} finalised`);
    const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
    assert.equal(facts.video?.packets, rec.frames_written);
    assert.ok(rec.frames_written > 30);
    assert.equal(facts.decodeErrors, '');
  }
});

test('in a terminal the demo runs the console; q stops everything and finalises the recordings', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const term = new Terminal({ cols: 120, rows: 36, allowProposedApi: true });
  const p = pty.spawn('bash', [path.join(REPO, 'scripts', 'demo.sh')], {
    cwd: REPO,
    cols: 120,
    rows: 36,
    env: { ...process.env, TERM: 'xterm-256color', VIGIL_DEMO_DIR: dir } as Record<string, string>,
  });
  t.after(() => p.kill('SIGKILL'));
  let out = '';
  p.onData((d) => {
    out += d;
    term.write(d);
  });
  const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
  const screen = (): string => {
    const b = term.buffer.active;
    return Array.from({ length: 36 }, (_, y) => b.getLine(b.viewportY + y)?.translateToString(true) ?? '').join('\n');
  };
  await waitUntil('the console to show three candidates', () => /candidates 3/.test(screen()), { timeoutMs: 40_000, seen: screen });
  for (const id of ['alice', 'bob', 'charlie']) assert.match(screen(), new RegExp(`${id}\\s+127\\.0\\.0\\.1`));
  p.write('q');
  await exited;
  assert.match(out, /demo: recordings:/);
  for (const id of ['alice', 'bob', 'charlie']) {
    const [session] = readdirSync(path.join(dir, id));
    assert.notEqual(readJson<SessionRecord>(path.join(dir, id, session!, 'session.json')).ended, 'in_progress', `${id} finalised`);
  }
});
