import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import type { SessionRecord } from '../src/server';
import { flakyLink } from './flaky-link';
import { audio, clientArgs, readJson, recordingFacts, runVigil, startServer, tempDir, video, waitUntil } from './helpers';


test('a dropped connection reconnects at its first attempt, resumes the same session, and loses no frame', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const link = await flakyLink(t, server.port);
  const c = runVigil(t, clientArgs(link.port, 'wobbly', video('megamind-clip.mp4'), audio('silence-10s.wav')));
  await c.waitForLine(/^WELCOME/);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const now = async () => (await admin.status()).candidates.find((x) => x.id === 'wobbly');
  let before = await now();
  await waitUntil('2.5 s of audio recorded before the cut', async () => ((before = await now())?.audio_s ?? 0) >= 2.5, { seen: () => before });
  assert.equal(link.cut(), 1);
  const cutAt = performance.now();
  await c.waitForLine(/^RESUMED session /);
  t.diagnostic(`resumed ${(performance.now() - cutAt).toFixed(0)} ms after the cut`);
  const after = await now();
  // Back on the first try (its delay is 0.1-0.3 s by the backoff rule), whatever the machine's load.
  assert.doesNotMatch(c.stdout(), /^RECONNECT attempt 2 /m, 'resumed at the first attempt');
  const r = await c.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^DISCONNECTED the server went away .*; reconnecting$/m);
  assert.match(r.stdout, /^RECONNECT attempt 1 in \d\.\d s$/m);
  assert.match(r.stdout, /sent 108 video frames .* 1 reconnect\(s\), 0 lost/);

  // One session, one recording, every frame and every sample.
  const sessions = readdirSync(path.join(dir, 'wobbly'));
  assert.equal(sessions.length, 1, 'the same session continued');
  const sdir = path.join(dir, 'wobbly', sessions[0]!);
  const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
  assert.equal(facts.video?.packets, 108, 'no frame lost');
  assert.ok(Math.abs(facts.audio!.duration - 10) < 0.05, `audio ${facts.audio!.duration} s`);
  assert.equal(facts.decodeErrors, '');
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  assert.equal(rec.ended, 'client_bye');
  assert.equal(rec.frames_written, 108);

  // The gap is on the timeline as a `disconnected` incident, about where the link was cut.
  const closed = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; kind: string; start_s: number; end_s: number })
    .filter((e) => e.event === 'close' && e.kind === 'disconnected');
  assert.equal(closed.length, 1);
  const gap = closed[0]!;
  // On the session clock: after the last status read before the cut, closed before the first read after the resume.
  const [c0, c1] = [before!.connected_s, after!.connected_s];
  assert.ok(gap.start_s >= c0 - 0.1 && gap.start_s <= gap.end_s && gap.end_s <= c1 + 0.1, `gap ${gap.start_s}-${gap.end_s} s, cut after ${c0} s, resumed by ${c1} s`);
  assert.ok(server.logs.some((l) => l.msg === 'candidate resumed'));
});

test('a client whose server is gone for good gives up after --reconnect seconds', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const c = runVigil(t, clientArgs(server.port, 'quitter', video('candidate-ok.mp4'), null, ['--loop', '--reconnect', '2']));
  await c.waitForLine(/^WELCOME/);
  // After WELCOME the session is established: a server that dies now is a drop the client tries to recover from.
  server.proc.kill('SIGKILL');
  const r = await c.done;
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^RECONNECT attempt 1 /m);
  assert.match(r.stderr, /gave up reconnecting after 2 s/);
});
