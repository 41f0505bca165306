import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import type { CandidateStatus } from '../src/protocol';
import type { SessionRecord } from '../src/server';
import { audio, clientArgs, readJson, recordingFacts, runVigil, sessionDirOf, startServer, tempDir, video, waitUntil } from './helpers';

/** Waits until every candidate in `ids` has `seconds` of audio recorded, and returns the server's view at that moment. */
async function recordedAtLeast(adminSocket: string, ids: string[], seconds: number): Promise<Map<string, CandidateStatus>> {
  const admin = await AdminClient.connect(adminSocket);
  try {
    let seen = new Map<string, CandidateStatus>();
    await waitUntil(`${seconds} s of audio recorded from ${ids.join(', ')}`, async () => {
      seen = new Map((await admin.status()).candidates.map((c) => [c.id, c]));
      return ids.every((id) => (seen.get(id)?.audio_s ?? 0) >= seconds);
    }, { seen: () => [...seen.values()].map((c) => [c.id, c.audio_s, c.frames_recorded]) });
    return seen;
  } finally {
    admin.close();
  }
}

test('a client killed mid-stream: its recording is finalised and readable; the other two are complete', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--resume-window', '1']);
  const a = runVigil(t, clientArgs(server.port, 'steady-a', video('megamind-clip.mp4'), audio('silence-10s.wav')));
  const victim = runVigil(t, clientArgs(server.port, 'victim', video('candidate-ok.mp4'), audio('speech-16k-mono.wav')));
  const c = runVigil(t, clientArgs(server.port, 'steady-c', video('megamind-clip.mp4'), audio('speech-silence-speech.wav')));
  await Promise.all([a, victim, c].map((r) => r.waitForLine(/^WELCOME/)));
  const atKill = (await recordedAtLeast(server.adminSocket, ['victim'], 3)).get('victim')!;
  victim.proc.kill('SIGKILL');
  await server.waitForLog((l) => l.msg === 'recording finalised' && l['id'] === 'victim');

  const vdir = sessionDirOf(dir, 'victim');
  const rec = readJson<SessionRecord>(path.join(vdir, 'session.json'));
  assert.equal(rec.ended, 'disconnected');
  assert.ok(rec.ended_at);
  const facts = await recordingFacts(path.join(vdir, 'recording.mkv'));
  assert.equal(facts.decodeErrors, '');
  assert.equal(facts.video?.packets, rec.frames_written, 'every frame that arrived was written');
  // Everything recorded before the kill is in the finalised file (more may have arrived after the snapshot).
  assert.ok(facts.video!.packets >= atKill.frames_recorded, `video: ${facts.video!.packets} frames, ${atKill.frames_recorded} recorded before the kill`);
  assert.ok(facts.audio!.end >= atKill.audio_s - 0.05, `audio: readable to ${facts.audio!.end} s, ${atKill.audio_s} s recorded before the kill`);

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
  await Promise.all(runs.map((r) => r.waitForLine(/^WELCOME/)));
  // What the server had taken in just before the kill; the files must hold all of it but the last second.
  const atKill = await recordedAtLeast(server.adminSocket, ids, 4);
  server.proc.kill('SIGKILL');
  await server.exited;

  for (const [i, r] of runs.entries()) {
    const res = await r.done;
    assert.equal(res.code, 1, 'the client reports the lost server with exit 1');
    assert.match(res.stderr, /^vigil client: the server went away \((read ECONNRESET|it closed the connection without a BYE)\)$/m);
    const before = atKill.get(ids[i]!)!;
    const sdir = sessionDirOf(dir, ids[i]!);
    const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
    assert.ok(facts.video && facts.audio, 'both tracks readable');
    // Both sample videos run at 15 fps: one second is 15 frames.
    assert.ok(facts.video.packets >= before.frames_recorded - 15, `${ids[i]}: ${facts.video.packets} frames readable of ${before.frames_recorded} recorded before the kill`);
    assert.ok(facts.audio.end >= before.audio_s - 1, `${ids[i]}: audio readable to ${facts.audio.end.toFixed(2)} s of ${before.audio_s.toFixed(2)} s recorded before the kill`);
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
