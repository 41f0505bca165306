import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import type { SessionRecord } from '../src/server';
import { flakyLink } from './flaky-link';
import { referenceGaps } from './h264-fixtures';
import { audio, clientArgs, edgeShiftedIncidents, execText, readJson, recordingFacts, runVigil, startServer, tempDir, video, waitUntil } from './helpers';

const H264 = ['--codec', 'h264'];

function onlySession(dir: string, id: string): string {
  const sessions = readdirSync(path.join(dir, id));
  assert.equal(sessions.length, 1, 'one session');
  return path.join(dir, id, sessions[0]!);
}

test('vigil client --codec h264: H.264 + Opus recorded frame for frame, incidents found from snapshots, encoder CPU printed', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const r = await runVigil(t, clientArgs(server.port, 'enc', await edgeShiftedIncidents('candidate-incidents.mp4'), audio('speech-16k-mono.wav'), H264)).done;
  assert.equal(r.code, 0, r.stderr);
  const sent = /sent (\d+) video frames and (\d+) audio chunks \(([\d.]+) s\)/.exec(r.stdout);
  assert.ok(sent, r.stdout);
  assert.match(r.stdout, /^ENCODER H\.264 used [\d.]+ s CPU in [\d.]+ s \([\d.]+ % of one core\)$/m);
  assert.match(r.stdout, /^ENCODER Opus used /m);
  // The verdicts come from snapshots: the candidate is warned in the order of the video, as on the JPEG path.
  const lines = r.stdout.split('\n').filter((l) => /^(WARNING|OK)/.test(l));
  assert.deepEqual(lines.map((l) => l.split(' ')[1]!.replace(/:$/, '')), ['face', 'no_face', 'misaligned', 'multiple_faces', 'face'], lines.join('\n'));
  // Read the recording once the incident subtitle track has been muxed into it (after the BYE).
  await server.waitForLog((l) => l.msg === 'incident subtitles added' && l['id'] === 'enc');
  const sdir = onlySession(dir, 'enc');
  const file = path.join(sdir, 'recording.mkv');
  const facts = await recordingFacts(file);
  assert.equal(facts.video?.codec, 'h264');
  assert.equal(facts.audio?.codec, 'opus');
  assert.equal(facts.video?.packets, Number(sent[1]));
  assert.equal(facts.audio?.packets, Number(sent[2]));
  assert.ok(Math.abs(facts.audio!.duration - Number(sent[3])) / Number(sent[3]) < 0.01, `audio ${facts.audio!.duration} s, sent ${sent[3]} s`);
  assert.equal(facts.decodeErrors, '');
  assert.deepEqual(await referenceGaps(file), []);
  // Each labelled segment's incident within a second of its cut, as tests/e2e-incidents requires of JPEG.
  const closed = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; kind: string; start_s: number; end_s: number }).filter((e) => e.event === 'close');
  const cuts: Array<[string, number, number]> = [['no_face', 6, 12], ['misaligned', 12, 18], ['multiple_faces', 18, 24]];
  assert.deepEqual(closed.map((e) => e.kind), cuts.map(([k]) => k));
  cuts.forEach(([kind, start, end], i) => assert.ok(Math.abs(closed[i]!.start_s - start) <= 1 && Math.abs(closed[i]!.end_s - end) <= 1, `${kind}: ${closed[i]!.start_s}-${closed[i]!.end_s}`));
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  assert.equal(rec.frames_written, Number(sent[1]));
  // Under 1 Mbit/s on the wire for everything: H.264, Opus, snapshots and framing.
  const kbps = (rec.bytes_received * 8) / 1000 / 30;
  t.diagnostic(`wire ${kbps.toFixed(0)} kbit/s, recording ${((rec.bytes_written * 8) / 1000 / 30).toFixed(0)} kbit/s`);
  assert.ok(kbps < 1000, `${kbps} kbit/s on the wire`);
  const streams = await execText('ffprobe', ['-v', 'warning', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file], true);
  assert.equal(streams.trim(), '', 'ffprobe reads the recording without a warning');
});

test('an H.264 client that loses its link mid-GOP resumes at a keyframe: the recording has no undecodable frame', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--detector', 'none']);
  const link = await flakyLink(t, server.port);
  const c = runVigil(t, clientArgs(link.port, 'wobbly', video('megamind-clip.mp4'), audio('silence-10s.wav'), H264));
  await c.waitForLine(/^WELCOME/);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const frames = async (): Promise<number> => (await admin.status()).candidates.find((x) => x.id === 'wobbly')?.frames_recorded ?? 0;
  // Frame 40 of 15 fps with a keyframe every 30: the middle of the second GOP.
  await waitUntil('40 frames recorded', async () => (await frames()) >= 40);
  assert.equal(link.cut(), 1);
  await c.waitForLine(/^RESUMED session /);
  const r = await c.done;
  assert.equal(r.code, 0, r.stderr);
  const sent = /sent (\d+) video frames/.exec(r.stdout);
  const file = path.join(onlySession(dir, 'wobbly'), 'recording.mkv');
  const facts = await recordingFacts(file);
  assert.equal(facts.video?.packets, Number(sent![1]), 'every frame sent is in the recording');
  assert.equal(facts.decodeErrors, '');
  assert.deepEqual(await referenceGaps(file), [], 'no frame refers to a picture the recording lacks');
});
