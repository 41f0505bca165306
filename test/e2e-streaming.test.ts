import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import { probe } from '../src/media/probe';
import type { SessionRecord } from '../src/server';
import {
  audio,
  clientArgs,
  edgeShiftedIncidents,
  readJson,
  recordingFacts,
  runVigil,
  sessionDirOf,
  startServer,
  tempDir,
  video,
  waitUntil,
  wavSeconds,
} from './helpers';

const CANDIDATES = [
  { id: 'cand-ok', video: video('candidate-ok.mp4'), audio: audio('speech-16k-mono.wav'), incidents: ['speech'] },
  { id: 'cand-megamind', video: video('megamind-clip.mp4'), audio: audio('speech-44k-stereo.wav'), incidents: ['speech'] },
  {
    id: 'cand-avi',
    video: '', // the edge-shifted AVI, made before the test (see edgeShiftedIncidents)
    audio: audio('speech-silence-speech.wav'),
    incidents: ['speech', 'no_face', 'speech', 'misaligned', 'multiple_faces'],
  },
];

test('three clients stream full videos with WAVs at once; every frame and every sample is recorded', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);

  CANDIDATES[2]!.video = await edgeShiftedIncidents('candidate-incidents-mjpeg.avi');
  const runs = CANDIDATES.map((c) => runVigil(t, clientArgs(server.port, c.id, c.video, c.audio)));
  await Promise.all(runs.map((r) => r.waitForLine(/^WELCOME session /)));

  // While they stream, `vigil status --json` lists all three with live figures (once each has a first analysis).
  const admin = await AdminClient.connect(server.adminSocket);
  let live: Array<Record<string, unknown>> = [];
  await waitUntil('three candidates recorded and analysed', async () => {
    const cs = (await admin.status()).candidates;
    live = cs.map((c) => ({ id: c.id, frames: c.frames_recorded, face: c.face, fps: c.video_fps, kbps: c.audio_kbps }));
    return cs.length === 3 && cs.every((c) => c.frames_recorded > 0 && c.face !== 'unknown' && c.video_fps > 0 && c.audio_kbps > 0);
  }, { seen: () => live });
  admin.close();
  const status = runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']);
  const st = await status.done;
  assert.equal(st.code, 0, st.stderr);
  const listed = JSON.parse(st.stdout) as { candidates: Array<Record<string, unknown>> };
  assert.deepEqual(listed.candidates.map((c) => c['id']).sort(), CANDIDATES.map((c) => c.id).sort());
  for (const c of listed.candidates) {
    for (const key of ['address', 'mode', 'connected_s', 'video_fps', 'audio_kbps', 'bytes_in', 'frames_recorded', 'face']) {
      assert.ok(key in c, `status --json has ${key}`);
    }
    assert.equal(c['mode'], 'both');
    assert.equal(c['face'], 'ok', 'every sample video starts with a centred face');
    // Rates are live figures here; how fast the server keeps up is measured in bench/ingest, not asserted.
    assert.ok((c['video_fps'] as number) > 0, `video fps ${c['video_fps']}`);
    assert.ok((c['audio_kbps'] as number) > 0, `audio kbps ${c['audio_kbps']}`);
    assert.ok((c['frames_recorded'] as number) > 0);
  }
  // The human table carries the same rows.
  const table = await runVigil(t, ['status', '--admin-socket', server.adminSocket]).done;
  assert.equal(table.code, 0);
  for (const c of CANDIDATES) assert.match(table.stdout, new RegExp(`^${c.id}\\s+127\\.0\\.0\\.1:\\d+\\s+both`, 'm'));

  const results = await Promise.all(runs.map((r) => r.done));
  for (const [i, c] of CANDIDATES.entries()) {
    const r = results[i]!;
    assert.equal(r.code, 0, `${c.id} exits 0; stderr: ${r.stderr}`);
    assert.match(r.stdout, /^done: server recorded \d+ video frames/m);
    const sent = Number(/sent (\d+) video frames/.exec(r.stdout)?.[1]);

    // The client sent every frame of the file.
    const source = await probe(c.video, { countPackets: true });
    assert.equal(sent, Number(source.streams.find((s) => s.codec_type === 'video')!.nb_read_packets), `${c.id} sent the whole video`);

    const sdir = sessionDirOf(dir, c.id);
    const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
    assert.equal(facts.decodeErrors, '', `${c.id} recording decodes without errors`);
    assert.equal(facts.video?.codec, 'mjpeg');
    assert.equal(facts.audio?.codec, 'pcm_s16le');
    assert.equal(facts.video?.packets, sent, `${c.id}: video frames recorded = frames sent`);
    const wav = await wavSeconds(c.audio);
    assert.ok(Math.abs(facts.audio!.duration - wav) / wav < 0.01, `${c.id}: audio ${facts.audio!.duration}s vs WAV ${wav}s`);
    // Video is timed by capture timestamps: the last frame sits at (frames - 1) / fps.
    assert.ok(Math.abs(facts.video!.end - sent / 15) < 0.1, `${c.id}: video ends at ${facts.video!.end}s`);

    const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
    assert.equal(rec.candidate_id, c.id);
    assert.equal(rec.ended, 'client_bye');
    assert.ok(rec.ended_at && Date.parse(rec.ended_at) >= Date.parse(rec.started_at));
    assert.equal(rec.frames_received, sent);
    assert.equal(rec.frames_written, sent);
    assert.ok(Math.abs(rec.audio_seconds - wav) / wav < 0.01);
    assert.ok(rec.bytes_received > 0);
    assert.match(rec.remote_address, /^127\.0\.0\.1:\d+$/);
    const closed = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; kind: string; start_s: number })
      .filter((l) => l.event === 'close')
      .sort((a, b) => a.start_s - b.start_s);
    // In order of start: speech 0-6 s and 11-15.5 s, faces 6-12, 12-18, 18-24 s.
    assert.deepEqual(closed.map((l) => l.kind), c.incidents);
  }
  assert.equal(server.logs.filter((l) => l.level >= 50).length, 0, 'no errors logged');
});
