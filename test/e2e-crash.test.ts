import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { SessionRecord } from '../src/server';
import { audio, clientArgs, readJson, recordingFacts, runVigil, sessionDirOf, sleep, startServer, tempDir, video } from './helpers';

test('a client killed mid-stream: its recording is finalised and readable; the other two are complete', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--resume-window', '1']);
  const a = runVigil(t, clientArgs(server.port, 'steady-a', video('megamind-clip.mp4'), audio('silence-10s.wav')));
  const victim = runVigil(t, clientArgs(server.port, 'victim', video('candidate-ok.mp4'), audio('speech-16k-mono.wav')));
  const c = runVigil(t, clientArgs(server.port, 'steady-c', video('megamind-clip.mp4'), audio('speech-silence-speech.wav')));
  await Promise.all([a, victim, c].map((r) => r.waitForLine(/^WELCOME/)));
  await sleep(3000);
  victim.proc.kill('SIGKILL');
  await server.waitForLog((l) => l.msg === 'recording finalised' && l['id'] === 'victim');

  const vdir = sessionDirOf(dir, 'victim');
  const rec = readJson<SessionRecord>(path.join(vdir, 'session.json'));
  assert.equal(rec.ended, 'disconnected');
  assert.ok(rec.ended_at);
  const facts = await recordingFacts(path.join(vdir, 'recording.mkv'));
  assert.equal(facts.decodeErrors, '');
  assert.equal(facts.video?.packets, rec.frames_written, 'every frame that arrived was written');
  assert.ok(facts.video!.end > 2.5 && facts.video!.end < 5, `about 3 s of video (${facts.video!.end})`);
  assert.ok(facts.audio!.end > 2.5 && facts.audio!.end < 5, `about 3 s of audio (${facts.audio!.end})`);

  for (const [run, id, frames] of [[a, 'steady-a', 108], [c, 'steady-c', 108]] as const) {
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    const f = await recordingFacts(path.join(sessionDirOf(dir, id), 'recording.mkv'));
    assert.equal(f.video?.packets, frames, `${id} complete`);
    assert.equal(f.decodeErrors, '');
  }
});

test('the server killed with SIGKILL: every recording is readable up to at most 1 s before the kill', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const ids = ['k1', 'k2'];
  const runs = [
    runVigil(t, clientArgs(server.port, 'k1', video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), ['--reconnect', '0'])),
    runVigil(t, clientArgs(server.port, 'k2', video('candidate-incidents.mp4'), audio('speech-44k-stereo.wav'), ['--reconnect', '0'])),
  ];
  const welcomed = await Promise.all(runs.map((r) => r.waitForLine(/^WELCOME/).then(() => performance.now())));
  await sleep(4200);
  const killedAt = performance.now();
  server.proc.kill('SIGKILL');
  await server.exited;

  for (const [i, r] of runs.entries()) {
    const res = await r.done;
    assert.equal(res.code, 1, 'the client reports the lost server with exit 1');
    assert.match(res.stderr, /^vigil client: the server went away \((read ECONNRESET|it closed the connection without a BYE)\)$/m);
    const streamedS = (killedAt - welcomed[i]!) / 1000;
    const sdir = sessionDirOf(dir, ids[i]!);
    const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
    assert.ok(facts.video && facts.audio, 'both tracks readable');
    assert.ok(facts.video.end >= streamedS - 1, `${ids[i]}: video readable to ${facts.video.end.toFixed(2)} s of ${streamedS.toFixed(2)} s`);
    assert.ok(facts.audio.end >= streamedS - 1, `${ids[i]}: audio readable to ${facts.audio.end.toFixed(2)} s of ${streamedS.toFixed(2)} s`);
    // Nothing finalised it: session.json still says so, for the next start to repair.
    assert.equal(readJson<SessionRecord>(path.join(sdir, 'session.json')).ended, 'in_progress');
  }

  // The next start repairs both: how they ended, and what the recordings really hold.
  const again = await startServer(t, dir);
  for (const id of ids) {
    const sdir = sessionDirOf(dir, id);
    const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
    assert.equal(rec.ended, 'server_crashed');
    assert.ok(rec.ended_at);
    const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
    assert.equal(rec.frames_written, facts.video!.packets);
    assert.ok(rec.audio_seconds > 2, `${id}: ${rec.audio_seconds} s of audio`);
  }
  assert.equal(again.logs.filter((l) => l.msg === 'repaired a session left open by a crash').length, 2);
});
