import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { AdminClient } from '../src/admin/client';
import type { ServerEvent } from '../src/protocol';
import { VigilServer, type SessionRecord } from '../src/server';
import { fillDisk, openFilesUnder, smallDisk } from './disk';
import { audio, clientArgs, readJson, recordingFacts, runVigil, sessionDirOf, startServer, video } from './helpers';
import { TINY_JPEG, WirePeer, pcmChunk } from './wire-peer';

/** Resolves with the first event matching, or rejects after the timeout. */
function waitForEvent(events: ServerEvent[], pred: (e: ServerEvent) => boolean, timeoutMs = 20_000): Promise<ServerEvent> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const check = (): void => {
      const found = events.find(pred);
      if (found) return resolve(found);
      if (Date.now() > deadline) return reject(new Error(`no matching event within ${timeoutMs} ms; got ${events.map((e) => e.kind).join(', ')}`));
      setTimeout(check, 50);
    };
    check();
  });
}

test('a full disk is loud: error log, recording_failed event and status, honest counts, and no success for the candidate', { timeout: 90_000 }, async (t) => {
  // 2 MiB holds about three seconds of 640x480 video at 15 fps with 16 kHz audio.
  const disk = smallDisk(t, 2 * 1024 * 1024);
  if (!disk) return;
  const server = await startServer(t, disk);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const events: ServerEvent[] = [];
  await admin.subscribe((e) => events.push(e));

  const client = runVigil(t, clientArgs(server.port, 'full', video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), ['--reconnect', '0']));
  const failed = await waitForEvent(events, (e) => e.kind === 'recording_failed' && e.file === 'recording.mkv');
  assert.ok(failed.kind === 'recording_failed');
  assert.equal(failed.id, 'full');
  assert.equal(failed.code, 'VIGIL_ERR_RECORDING_WRITE');
  assert.equal(failed.errno, 'ENOSPC');
  assert.match(failed.message, /cannot write recording\.mkv at byte \d+: the disk is full/);

  const logged = await server.waitForLog((l) => l.msg.startsWith('recording write failed') && l['file'] === 'recording.mkv');
  assert.equal(logged.level, 50, 'logged at error');
  assert.equal(logged['errno'], 'ENOSPC');
  assert.equal(logged['code'], 'VIGIL_ERR_RECORDING_WRITE');

  // The proctor's view while the candidate is still connected.
  const json = await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done;
  assert.equal(json.code, 0, json.stderr);
  const st = JSON.parse(json.stdout) as { candidates: Array<{ id: string; frames_received: number; frames_recorded: number; write_error: { file: string; errno: string } | null }>; server: { recording_failures: number } };
  const row = st.candidates.find((c) => c.id === 'full');
  assert.ok(row, 'the candidate is still connected (the live session goes on)');
  // The first failed write is shown; on a loaded machine the periodic session.json rewrite can meet the full disk
  // before the recording's next block does. Either way the recording's own failure is logged and published above.
  assert.ok(['recording.mkv', 'session.json'].includes(row.write_error?.file ?? ''), `first failure ${JSON.stringify(row.write_error)}`);
  assert.equal(row.write_error?.errno, 'ENOSPC');
  assert.ok(st.server.recording_failures >= 1);
  const table = await runVigil(t, ['status', '--admin-socket', server.adminSocket]).done;
  assert.match(table.stdout, /^full\s.*\d+ FAILED/m);
  assert.match(table.stdout, /^RECORDING FAILED for full: cannot write (recording\.mkv|session\.json)/m);
  assert.match(table.stdout, /^recording failures since start: \d+$/m);

  const done = await client.done;
  // The final BYE states what the file holds, and that it failed; never "recorded 300 video frames".
  const told = done.stdout + done.stderr;
  const m = /recording FAILED \(.*the disk is full.*\): only (\d+) video frames and ([\d.]+) s of audio were recorded; (\d+) video frames and ([\d.]+) s of audio were lost/.exec(told);
  assert.ok(m, `the client was told: ${done.stdout}\n${done.stderr}`);
  const [framesClaimed, audioClaimed, framesLost] = [Number(m[1]), Number(m[2]), Number(m[3])];
  assert.ok(framesClaimed > 0 && framesClaimed < 300, `${framesClaimed} frames claimed`);
  assert.equal(framesClaimed + framesLost, 300, 'written + lost = every frame sent');

  const sdir = sessionDirOf(disk, 'full');
  const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
  assert.equal(facts.video?.packets, framesClaimed, 'the frames claimed are the frames in the file');
  assert.ok(Math.abs((facts.audio?.duration ?? 0) - audioClaimed) < 0.05, `audio: ${facts.audio?.duration} s in the file, ${audioClaimed} s claimed`);
  assert.equal(facts.decodeErrors, '', 'the file ends on a whole block');

  const left = await waitForEvent(events, (e) => e.kind === 'candidate_left' && e.id === 'full');
  assert.ok(left.kind === 'candidate_left');
  assert.equal(left.ended, 'recording_failed');
  assert.equal(left.frames_recorded, framesClaimed);
  const finalised = await server.waitForLog((l) => l.msg === 'recording finalised' && l['id'] === 'full');
  assert.equal(finalised.level, 50);
  assert.equal(finalised['ended'], 'recording_failed');
  assert.equal(finalised['frames'], framesClaimed);

  // session.json, if the disk let it be written, says the same; it never says the session ended cleanly.
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  t.diagnostic(`client exit ${done.code}: ${done.stderr.trim()}; session.json ended: ${rec.ended}`);
  if (rec.ended === 'in_progress') {
    assert.ok(server.logs.some((l) => l.level === 50 && l['file'] === 'session.json'), 'session.json could not be written, and the log says so');
  } else {
    assert.equal(rec.ended, 'recording_failed');
    assert.equal(rec.end_cause, 'client_bye');
    assert.equal(rec.frames_written, framesClaimed);
    assert.equal(rec.frames_lost, framesLost);
    assert.equal(rec.write_errors[0]?.errno, 'ENOSPC');
    assert.match(rec.recording_error ?? '', /the disk is full/);
  }
  assert.equal(existsSync(path.join(sdir, `session.json.${server.proc.pid}.tmp`)), false, 'no half-written temporary left behind');
  assert.deepEqual(openFilesUnder(disk, server.proc.pid!), [], 'the server holds no session file open');
  // The candidate was alerted while streaming, and the client does not claim success.
  assert.match(done.stdout, /^ALERT recording_failed: the server cannot record your exam \(cannot write recording\.mkv at byte \d+: the disk is full/m);
  assert.match(done.stdout, new RegExp(`^RECEIPT session \\S+: ${framesClaimed} video frames, \\d+ audio chunks \\(${audioClaimed.toFixed(2)} s\\) recorded, recording damaged$`, 'm'));
  assert.equal(done.code, 6, `exit 6: the server could not record (${done.stderr})`);
});

test('a HELLO on a full disk is refused with BYE recording_failed, and nothing of the session stays open', { timeout: 30_000 }, async (t) => {
  const disk = smallDisk(t, 1024 * 1024);
  if (!disk) return;
  const server = await startServer(t, disk);
  fillDisk(disk);
  const run = runVigil(t, clientArgs(server.port, 'nospace', video('candidate-ok.mp4'), null, ['--reconnect', '0']));
  const done = await run.done;
  assert.equal(done.code, 3, done.stderr);
  assert.match(done.stdout, /^BYE recording_failed: the server cannot record this session: cannot write recording\.mkv at byte 0: the disk is full/m);
  const logged = await server.waitForLog((l) => l.msg === 'cannot open a recording');
  assert.equal(logged.level, 50);
  assert.deepEqual(openFilesUnder(disk, server.proc.pid!), []);
  // The server carries on: with room again, the same candidate is recorded.
  rmSync(path.join(disk, 'filler'));
  const again = await runVigil(t, clientArgs(server.port, 'nospace', null, audio('silence-10s.wav'), ['--reconnect', '0'])).done;
  assert.equal(again.code, 0, again.stderr);
});

test('a client that takes ALERT hears of the failure at once; its RECEIPT is not intact and counts only what the file holds', { timeout: 30_000 }, async (t) => {
  const disk = smallDisk(t, 512 * 1024);
  if (!disk) return;
  const server = new VigilServer({ host: '127.0.0.1', port: 0, recordDir: disk, adminSocket: null, auth: 'none', logger: pino({ level: 'silent' }), version: 'test' });
  const { port } = await server.listen();
  t.after(() => server.close());
  const peer = await WirePeer.connect(port);
  t.after(() => peer.destroy());
  peer.hello('wire', { accepts: ['receipt', 'alert'] });
  await peer.waitFor('welcome');
  // 40 KB "JPEGs" (the server checks only the SOI marker): 30 of them cannot fit in 512 KiB.
  const big = Buffer.concat([TINY_JPEG.subarray(0, 2), Buffer.alloc(40 * 1024, 7)]);
  for (let seq = 0; seq < 30; seq++) {
    peer.send({ type: 'video_frame', seq, timestampMs: seq * 100, jpeg: big });
    peer.send({ type: 'audio_chunk', seq, timestampMs: seq * 100, pcm: pcmChunk(100, seq) });
  }
  const alert = await peer.waitFor('alert');
  assert.equal(alert.code, 'recording_failed');
  assert.match(alert.text, /cannot record your exam \(cannot write recording\.mkv at byte \d+: the disk is full/);
  peer.send({ type: 'bye', reason: 'normal', code: 0, text: 'done' });
  const receipt = await peer.waitFor('receipt');
  const bye = await peer.waitFor('bye');
  assert.equal(bye.reason, 'recording_failed');
  assert.equal(receipt.intact, false);
  const sdir = sessionDirOf(disk, 'wire');
  const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
  assert.ok(receipt.video.messages < 30, `${receipt.video.messages} frames in the receipt`);
  assert.equal(receipt.video.messages, facts.video?.packets ?? 0, 'the receipt counts the frames in the file');
  assert.equal(receipt.audio.messages, facts.audio?.packets ?? 0, 'and the audio chunks in the file');
  assert.match(bye.text, new RegExp(`only ${receipt.video.messages} video frames`));
  assert.deepEqual(peer.received.map((m) => m.type), ['welcome', 'alert', 'receipt', 'bye']);
});
