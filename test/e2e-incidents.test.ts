import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import type { ServerEvent } from '../src/protocol';
import type { SessionRecord } from '../src/server';
import { audio, clientArgs, edgeShiftedIncidents, execText, readJson, recordingFacts, runVigil, sessionDirOf, startServer, tempDir, waitUntil } from './helpers';

const CUTS: Array<[string, number, number]> = [
  ['no_face', 6, 12],
  ['misaligned', 12, 18],
  ['multiple_faces', 18, 24],
];

test('a candidate streaming candidate-incidents.mp4 is warned in order, and the timeline has the three incidents', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const events: ServerEvent[] = [];
  await admin.subscribe((e) => events.push(e));

  // Silent audio, so that only face incidents are on this timeline (speech has its own test).
  const c = runVigil(t, clientArgs(server.port, 'incidents', await edgeShiftedIncidents('candidate-incidents.mp4'), audio('silence-10s.wav')));
  await c.waitForLine(/^WELCOME/);
  await c.waitForLine(/^WARNING no_face: we cannot see your face - look at the camera$/, 30_000);
  // Once the no_face state has held for --incident-after, status shows the open incident.
  let live = (await admin.status()).candidates[0]!;
  await waitUntil('status to show the open no_face incident', async () => (live = (await admin.status()).candidates[0]!).incident !== null, { seen: () => live });
  assert.equal(live.face, 'no_face');
  assert.equal(live.incident, 'no_face');
  const r = await c.done;
  assert.equal(r.code, 0, r.stderr);

  // The candidate saw one line per change, in the order of the video.
  const lines = r.stdout.split('\n').filter((l) => /^(WARNING|OK)/.test(l));
  assert.deepEqual(
    lines.map((l) => l.split(' ')[1]!.replace(/:$/, '')),
    ['face', 'no_face', 'misaligned', 'multiple_faces', 'face'],
    lines.join('\n'),
  );
  assert.match(r.stdout, /sent 450 video frames .* 3 warning\(s\)/);

  const sdir = sessionDirOf(dir, 'incidents');
  const jsonl = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const closed = jsonl.filter((l) => l['event'] === 'close');
  assert.equal(jsonl.filter((l) => l['event'] === 'open').length, 3);
  assert.deepEqual(closed.map((l) => l['kind']), CUTS.map(([k]) => k));
  for (const [i, [kind, start, end]] of CUTS.entries()) {
    const inc = closed[i]!;
    assert.ok(Math.abs((inc['start_s'] as number) - start) <= 1, `${kind} starts at ${inc['start_s']} (cut at ${start})`);
    assert.ok(Math.abs((inc['end_s'] as number) - end) <= 1, `${kind} ends at ${inc['end_s']} (cut at ${end})`);
    // Analysed frames: some, and never more than --analyze-fps 5 allows (a loaded detector skips frames, by design).
    const most = ((inc['end_s'] as number) - (inc['start_s'] as number)) * 5 + 2;
    assert.ok((inc['frames'] as number) >= 1 && (inc['frames'] as number) <= most, `${kind}: ${inc['frames']} frames analysed at 5 fps (at most ${most})`);
    assert.ok((inc['peak_confidence'] as number) > 0.5);
  }

  // WebVTT beside the recording, and the same cues muxed into it as a subtitle track.
  const vtt = readFileSync(path.join(sdir, 'incidents.vtt'), 'utf8');
  assert.match(vtt, /^WEBVTT\n\n1\n00:00:0[5-7]\.\d{3} --> 00:00:1[1-3]\.\d{3}\nNO FACE/);
  assert.equal((vtt.match(/ --> /g) ?? []).length, 3);
  // The subtitle track is added after the candidate's BYE, so as not to keep it waiting.
  await server.waitForLog((l) => l.msg === 'incident subtitles added' && l['id'] === 'incidents');
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  assert.equal(rec.incidents, 3);
  assert.equal(rec.subtitle_track, true, rec.subtitle_error ?? '');
  const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
  assert.equal(facts.video?.packets, 450, 'the subtitle mux copied every frame');
  assert.equal(facts.decodeErrors, '');
  const subs = await execText('ffprobe', ['-v', 'error', '-select_streams', 's', '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', path.join(sdir, 'recording.mkv')]);
  const cues = subs.trim().split('\n').map((l) => l.split(',').map(Number));
  assert.equal(cues.length, 3);
  for (const [i, [, start, end]] of CUTS.entries()) {
    assert.ok(Math.abs(cues[i]![0]! - start) <= 1 && Math.abs(cues[i]![0]! + cues[i]![1]! - end) <= 1, `subtitle ${i}: ${cues[i]}`);
  }

  // The event stream carried face changes and the incidents.
  const kinds = events.map((e) => e.kind);
  assert.equal(kinds.filter((k) => k === 'incident_opened').length, 3);
  assert.equal(kinds.filter((k) => k === 'incident_closed').length, 3);
  assert.ok(kinds.includes('face_status'));
});
