import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { Terminal } from '@xterm/headless';
import * as pty from 'node-pty';
import { startConsole as startConsoleIn } from './console-pty';
import { AdminClient } from '../src/admin/client';
import { VIGIL, audio, clientArgs, execText, runVigil, sleep, startServer, tempDir, video, waitUntil } from './helpers';

const COLS = 120;
const ROWS = 40;
const startConsole = (t: { after(fn: () => void): void }, adminSocket: string) => startConsoleIn(t, adminSocket, { cols: COLS, rows: ROWS });

test('the console shows candidates and events, switches modes, previews, kicks and quits', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const alice = runVigil(t, clientArgs(server.port, 'alice', video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), ['--loop']));
  const bob = runVigil(t, clientArgs(server.port, 'bob', video('megamind-clip.mp4'), audio('silence-10s.wav'), ['--loop']));
  await Promise.all([alice.waitForLine(/^WELCOME/), bob.waitForLine(/^WELCOME/)]);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());

  const c = startConsole(t, server.adminSocket);
  // Both candidates with their live face status, and the event log.
  await c.waitFor('both candidates with face ok', (s) => /^.{0,3}alice\s+127\.0\.0\.1:\d+\s+both\s+ok\b/m.test(s) && /^.{0,3}bob\s+127\.0\.0\.1:\d+\s+both\s+ok\b/m.test(s));
  const s1 = c.screen();
  assert.match(s1, /vigil 127\.0\.0\.1:\d+\s+up \d+s\s+candidates 2\s+incidents open \d+/);
  // The header counts what the server reports open (alice's speech may open an incident at any moment, so no fixed 0).
  await waitUntil('the header to count the incidents open on the server', async () => {
    const open = (await admin.status()).candidates.filter((x) => x.incident !== null).length;
    return new RegExp(`candidates 2\\s+incidents open ${open}\\b`).test(await c.current());
  }, { seen: () => c.screen().split('\n')[0] });
  assert.match(s1, /Events/);
  assert.match(s1, /connected to /);
  // One row per candidate with its fps over the last minute (the separate Throughput panel is gone).
  assert.match(s1, /FPS LAST MINUTE/);
  assert.doesNotMatch(s1, /Throughput/);
  assert.match(s1, /Enter preview/);

  // The default order puts attention first, which depends on what is open now; by id, alice is on top.
  c.send('s');
  await c.waitFor('the order by id', (s) => /Candidates: by id/.test(s) && /^.{0,3}alice\s[\s\S]*^.{0,3}bob\s/m.test(s));
  c.send('k');
  await c.waitFor('alice selected', () => /alice/.test(c.selectedLine() ?? ''));

  // a: alice (selected first) to audio only. Her client says so, the server stops getting her video, audio goes on.
  c.send('a');
  await alice.waitForLine(/^MODE audio/);
  await c.waitFor('alice in audio mode', (s) => /alice\s+127\.0\.0\.1:\d+\s+audio/.test(s));
  await c.waitFor('the mode change in the event log', (s) => /alice switched to audio/.test(s));
  const aliceNow = async () => (await admin.status()).candidates.find((x) => x.id === 'alice')!;
  const before = await aliceNow();
  let during = before;
  await waitUntil('a second more of alice\'s audio while in audio mode', async () => (during = await aliceNow()).audio_s > before.audio_s + 1, { seen: () => during });
  assert.equal(during.frames_received, before.frames_received, 'no video from alice');
  // b: back to both.
  c.send('b');
  await alice.waitForLine(/^MODE both/);
  await waitUntil('alice\'s video to resume', async () => (await aliceNow()).frames_received > during.frames_received);

  // Enter: a preview with a rendered frame that changes as the video moves; Esc closes it.
  c.send('\r');
  await c.waitFor('the preview', (s) => /Preview alice \(Esc closes\)/.test(s) && /face ok\s+1 box/.test(s));
  await c.waitFor('a rendered frame', () => c.colouredCells().count > 500);
  const first = c.colouredCells();
  await c.waitFor('the preview to change as the video moves', () => {
    const now = c.colouredCells();
    return now.count > 500 && now.fingerprint !== first.fingerprint;
  });
  c.send('\x1b');
  await c.waitFor('the table again', (s) => /Candidates/.test(s) && !/Preview alice/.test(s));

  // ? shows the help overlay; any key closes it.
  c.send('?');
  await c.waitFor('help', (s) => /vigil console - keys/.test(s));
  c.send('x');
  await c.waitFor('help closed', (s) => !/vigil console - keys/.test(s));

  // Down to bob, K, y: bob's client exits non-zero with the reason and does not come back; alice streams on.
  c.send('j');
  await c.waitFor('bob selected', () => /bob/.test(c.selectedLine() ?? ''));
  c.send('K');
  await c.waitFor('the kick question', (s) => /Kick bob\?/.test(s));
  c.send('y');
  const kicked = await bob.done;
  assert.equal(kicked.code, 4);
  assert.match(kicked.stdout, /^BYE kicked: removed by the proctor$/m);
  await c.waitFor('the kick in the event log', (s) => /bob kicked: removed by the proctor/.test(s));
  // bob's client has exited, so it cannot come back; the server lists alice alone, and she keeps streaming.
  let after = await admin.status();
  await waitUntil('the server to list alice alone', async () => (after = await admin.status()).candidates.map((x) => x.id).join() === 'alice', { seen: () => after.candidates.map((x) => x.id) });
  const framesAfterKick = after.candidates[0]!.frames_received;
  await waitUntil('more frames from alice after the kick', async () => (await aliceNow()).frames_received > framesAfterKick);

  // q quits with 0 and leaves the server running.
  c.send('q');
  assert.equal(await c.exited, 0);
  assert.equal((await admin.status()).candidates.length, 1);
});

test('the console fits 80x24 and says clearly when there is no server', async (t) => {
  const dir = tempDir(t);
  const r = pty.spawn(VIGIL, ['console', '--admin-socket', `${dir}/none.sock`], { cols: 80, rows: 24, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string> });
  let out = '';
  r.onData((d) => (out += d));
  const code = await new Promise<number>((resolve) => r.onExit(({ exitCode }) => resolve(exitCode)));
  assert.equal(code, 1);
  assert.match(out, /vigil console: no vigil server is running at/);

  const server = await startServer(t, dir);
  const term = new Terminal({ cols: 80, rows: 24, allowProposedApi: true });
  const p = pty.spawn(VIGIL, ['console', '--admin-socket', server.adminSocket], { cols: 80, rows: 24, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string> });
  t.after(() => p.kill('SIGKILL'));
  p.onData((d) => term.write(d));
  const deadline = Date.now() + 30_000;
  let text = '';
  while (Date.now() < deadline) {
    await new Promise<void>((res) => term.write('', res));
    const b = term.buffer.active;
    text = Array.from({ length: 24 }, (_, y) => b.getLine(y)?.translateToString(true) ?? '').join('\n');
    if (/no candidates connected/.test(text) && /q quit/.test(text) && /candidates 0/.test(text)) break;
    await sleep(100);
  }
  assert.match(text, /candidates 0/);
  assert.match(text, /no candidates connected/);
  assert.match(text, /q quit/, 'the footer fits');
  assert.doesNotMatch(text, /ADDRESS/, 'the address column is left out at 80 columns');

  // Resized to 250x60, the layout follows: the address column comes back and the table grows.
  term.resize(250, 60);
  p.resize(250, 60);
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    await new Promise<void>((res) => term.write('', res));
    const b = term.buffer.active;
    text = Array.from({ length: 60 }, (_, y) => b.getLine(y)?.translateToString(true) ?? '').join('\n');
    if (/ADDRESS/.test(text)) break;
    await sleep(100);
  }
  assert.match(text, /ID\s+ADDRESS\s+MODE\s+FACE/);
  assert.equal(text.split('\n').findIndex((l) => /q quit/.test(l)), 59, 'the footer moved to the new last row');
  p.write('\x03'); // Ctrl-C quits too
  assert.equal(await new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode))), 0);
});

test('w opens the selected candidate in an OpenCV window on the desktop (a virtual X display here)', { timeout: 60_000 }, async (t) => {
  const display = `:${90 + (process.pid % 9)}`;
  const xvfb = spawn('Xvfb', [display, '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
  t.after(() => xvfb.kill('SIGKILL'));
  const windows = async (): Promise<string> =>
    execText('xwininfo', ['-root', '-tree', '-display', display]).catch(() => '');
  const until = async (pred: (s: string) => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (pred(await windows())) return;
      await sleep(200);
    }
    throw new Error(`${what}; windows:\n${await windows()}`);
  };
  await until((s) => s.includes('Root window'), 'Xvfb did not start');

  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const alice = runVigil(t, clientArgs(server.port, 'alice', video('candidate-ok.mp4'), null, ['--loop']));
  await alice.waitForLine(/^WELCOME/);
  const term = new Terminal({ cols: 100, rows: 30, allowProposedApi: true });
  const p = pty.spawn(VIGIL, ['console', '--admin-socket', server.adminSocket], {
    cols: 100,
    rows: 30,
    env: { ...process.env, TERM: 'xterm-256color', DISPLAY: display } as Record<string, string>,
  });
  t.after(() => p.kill('SIGKILL'));
  p.onData((d) => term.write(d));
  await waitUntil('the console to draw alice', async () => {
    await new Promise<void>((res) => term.write('', res));
    const b = term.buffer.active;
    return Array.from({ length: 30 }, (_, y) => b.getLine(y)?.translateToString(true) ?? '').some((l) => /^.{0,3}alice\s/.test(l));
  });
  p.write('w');
  await until((s) => s.includes('"vigil alice"'), 'no OpenCV window named "vigil alice" appeared');
  p.write('q');
  assert.equal(await new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode))), 0);
  await until((s) => !s.includes('"vigil alice"'), 'the window outlived the console');
});
