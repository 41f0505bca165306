import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Terminal } from '@xterm/headless';
import * as pty from 'node-pty';
import type { SessionRecord } from '../src/server';
import { REPO, readJson, recordingFacts, sleep, tempDir } from './helpers';

test('without a terminal the demo shows the status table; Ctrl-C finalises every recording', { timeout: 60_000 }, async (t) => {
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

  const deadline = Date.now() + 20_000;
  while (!/3 candidate\(s\)/.test(out) && Date.now() < deadline) await sleep(200);
  assert.match(out, /3 candidate\(s\)/, `status view lists three candidates:\n${out}`);
  for (const id of ['alice', 'bob', 'charlie']) assert.match(out, new RegExp(`^${id}\\s+127\\.0\\.0\\.1`, 'm'));
  await sleep(2000);
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

test('in a terminal the demo runs the console; q stops everything and finalises the recordings', { timeout: 60_000 }, async (t) => {
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
  const deadline = Date.now() + 25_000;
  while (Date.now() < deadline && !/candidates 3/.test(screen())) await sleep(200);
  assert.match(screen(), /candidates 3/, screen());
  for (const id of ['alice', 'bob', 'charlie']) assert.match(screen(), new RegExp(`${id}\\s+127\\.0\\.0\\.1`));
  p.write('q');
  await exited;
  assert.match(out, /demo: recordings:/);
  for (const id of ['alice', 'bob', 'charlie']) {
    const [session] = readdirSync(path.join(dir, id));
    assert.notEqual(readJson<SessionRecord>(path.join(dir, id, session!, 'session.json')).ended, 'in_progress', `${id} finalised`);
  }
});
