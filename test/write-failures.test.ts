import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { MkvWriter } from '../src/media/mkv-writer';
import { VideoFileSource } from '../src/media/video-file';
import { RecordingWriteError } from '../src/media/write-error';
import { repairOrphans } from '../src/server/repair';
import { Session, type SessionRecord } from '../src/server/session';
import { TaskQueue } from '../src/server/task-queue';
import { fillDisk, openFilesUnder, smallDisk } from './disk';
import { readJson, recordingFacts, sleep, video } from './helpers';

let jpegs: Buffer[] | null = null;
/** Real 640x480 JPEGs of the sample clip (about 35 KB each). */
async function frames(): Promise<Buffer[]> {
  if (jpegs) return jpegs;
  const src = await VideoFileSource.open(video('candidate-ok.mp4'), { width: 640, height: 480, quality: 80 });
  const out: Buffer[] = [];
  for await (const f of src.frames()) {
    out.push(f);
    if (out.length === 30) break;
  }
  return (jpegs = out);
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

function sessionInit(recordDir: string, id: string) {
  return {
    recordDir,
    candidateId: id,
    sessionId: `s-${id}`,
    remoteAddress: '127.0.0.1:1',
    clientVersion: 'test',
    video: { codec: 'jpeg' as const, width: 640, height: 480, fps: 15 },
    audio: { codec: 'pcm_s16le' as const, sampleRate: 16000, channels: 1 },
    writingApp: 'vigil test',
    incidentAfterS: 1,
    speechAfterS: 1,
  };
}

test('the Matroska writer on a full disk: one ENOSPC error, counters stop at what is in the file, the file ends on a whole block', { timeout: 60_000 }, async (t) => {
  const disk = smallDisk(t, 512 * 1024);
  if (!disk) return;
  const jpeg = await frames();
  const failures: RecordingWriteError[] = [];
  const file = path.join(disk, 'recording.mkv');
  const w = await MkvWriter.create(file, { video: { width: 640, height: 480 }, audio: { sampleRate: 16000, channels: 1 }, title: 't', startedAt: new Date(), writingApp: 'test' }, (e) => failures.push(e));
  const pcm = Buffer.alloc(1280, 1); // 40 ms of 16 kHz mono
  let sent = 0;
  for (let i = 0; i < 60; i++) {
    w.writeVideo(i * 66.67, jpeg[i % jpeg.length]!, 66.67);
    w.writeAudio(i * 66.67, pcm);
    sent++;
    await w.drained();
  }
  assert.equal(failures.length, 1, 'reported once');
  const err = failures[0]!;
  assert.equal(err.code, 'VIGIL_ERR_RECORDING_WRITE');
  assert.equal(err.errno, 'ENOSPC');
  assert.equal(err.file, 'recording.mkv');
  assert.ok(err.offset !== null && err.offset > 0 && err.offset <= 512 * 1024, `offset ${err.offset}`);
  assert.match(err.message, /recording\.mkv at byte \d+: the disk is full/);
  assert.equal(w.failed, err);
  const written = w.counts.videoFrames;
  assert.ok(written > 0 && written < sent, `${written} of ${sent} frames written`);
  assert.equal(w.notWritten.videoFrames, sent - written, 'the rest is counted as lost, not written');
  await w.finalize();
  const facts = await recordingFacts(file);
  assert.equal(facts.video?.packets, written, 'the counter matches the frames in the file');
  assert.equal(facts.audio?.packets, w.counts.audioSamples / 640);
  assert.equal(facts.decodeErrors, '', 'cut back to the last whole block: nothing torn');
  assert.equal(openFilesUnder(disk).length, 0, 'the file is closed');
});

test('Session.open on a full disk fails with the typed error and leaves no file handle or timer behind', { timeout: 30_000 }, async (t) => {
  const disk = smallDisk(t, 256 * 1024);
  if (!disk) return;
  fillDisk(disk);
  const before = timers();
  await assert.rejects(Session.open(sessionInit(disk, 'full')), (err: unknown) => {
    assert.ok(err instanceof RecordingWriteError, String(err));
    assert.equal(err.code, 'VIGIL_ERR_RECORDING_WRITE');
    assert.equal(err.errno, 'ENOSPC');
    return true;
  });
  assert.deepEqual(openFilesUnder(disk), []);
  assert.equal(timers(), before, 'no refresh timer left running');
});

test('a failed incident write is reported, kept in session.json, and the session never ends as a clean one', { timeout: 30_000 }, async (t) => {
  const disk = smallDisk(t, 1024 * 1024);
  if (!disk) return;
  const session = await Session.open(sessionInit(disk, 'inc'));
  const heard: RecordingWriteError[] = [];
  session.onWriteFailure((e) => heard.push(e));
  const jpeg = (await frames())[0]!;
  session.recordVideo(0, jpeg);
  await session.recorderDrained();
  fillDisk(disk);
  // A face missing for over a second opens an incident, whose line cannot be written.
  for (let i = 0; i <= 12; i++) session.applyAnalysis({ width: 640, height: 480, faces: [], verdict: 'no_face', confidence: 0.9, why: '' }, i * 100);
  const deadline = Date.now() + 5000;
  while (!heard.some((e) => e.file === 'incidents.jsonl') && Date.now() < deadline) await sleep(20);
  assert.deepEqual(heard.map((e) => [e.file, e.errno]), [['incidents.jsonl', 'ENOSPC']]);
  assert.equal(session.status('x').write_error?.file, 'incidents.jsonl');
  // Room again, so the final session.json can say what happened.
  rmSync(path.join(disk, 'filler'));
  const rec = await session.finish('client_bye');
  assert.equal(rec.ended, 'recording_failed');
  assert.equal(rec.end_cause, 'client_bye');
  const onDisk = readJson<SessionRecord>(path.join(session.dir, 'session.json'));
  assert.equal(onDisk.ended, 'recording_failed');
  assert.equal(onDisk.write_errors[0]?.file, 'incidents.jsonl');
  assert.equal(onDisk.write_errors[0]?.errno, 'ENOSPC');
  assert.equal(onDisk.frames_written, 1);
  assert.deepEqual(openFilesUnder(disk), []);
});

test('the crash repair keeps a session whose writes failed marked as failed', { timeout: 30_000 }, async (t) => {
  const disk = smallDisk(t, 1024 * 1024);
  if (!disk) return;
  const session = await Session.open(sessionInit(disk, 'crash'));
  session.recordVideo(0, (await frames())[0]!);
  await session.recorderDrained();
  // What a crash leaves: session.json in progress, already holding a write error.
  const file = path.join(session.dir, 'session.json');
  const rec = JSON.parse(readFileSync(file, 'utf8')) as SessionRecord;
  rec.write_errors = [{ file: 'incidents.jsonl', code: 'VIGIL_ERR_RECORDING_WRITE', errno: 'ENOSPC', message: 'cannot write incidents.jsonl: the disk is full', offset: null, lost: '1 incident line(s)', at: new Date().toISOString() }];
  writeFileSync(file, JSON.stringify(rec));
  await session.finish('x').catch(() => undefined); // closes the file; session.json is rewritten below
  writeFileSync(file, JSON.stringify(rec));
  assert.equal(await repairOrphans(disk, pino({ level: 'silent' })), 1);
  const fixed = readJson<SessionRecord>(file);
  assert.equal(fixed.ended, 'recording_failed');
  assert.equal(fixed.end_cause, 'server_crashed');
  assert.equal(fixed.write_errors.length, 1);
});

test('the task queue runs at most its limit at once, in arrival order, and every task completes', async () => {
  const q = new TaskQueue(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      q.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await sleep(5 + (i % 3) * 5);
        running--;
        if (i === 7) throw new Error('task 7 fails');
        return i;
      }).catch((e: Error) => e.message),
    ),
  );
  assert.equal(peak, 2);
  assert.equal(q.peak, 2);
  assert.deepEqual(order, [...Array(20).keys()]);
  assert.equal(results[7], 'task 7 fails');
  assert.equal(results[19], 19);
  assert.equal(q.active, 0);
});

test('a subtitle mux that finds no room is reported, leaves the recording as it was, and marks the session failed', { timeout: 60_000 }, async (t) => {
  const disk = smallDisk(t, 1024 * 1024);
  if (!disk) return;
  const session = await Session.open(sessionInit(disk, 'mux'));
  const heard: RecordingWriteError[] = [];
  session.onWriteFailure((e) => heard.push(e));
  const jpeg = await frames();
  // About 600 KB of recording: the mux's second copy cannot fit beside it.
  let n = 0;
  for (let bytes = 0; bytes < 600 * 1024; n++) {
    const f = jpeg[n % jpeg.length]!;
    session.recordVideo(n * 66.67, f);
    bytes += f.length;
  }
  session.openGap();
  session.closeGap();
  await session.recorderDrained();
  const rec = await session.finish('client_bye');
  assert.equal(rec.ended, 'client_bye', 'nothing failed yet');
  assert.equal(await session.addSubtitles(), false);
  assert.deepEqual(heard.map((e) => e.file), ['recording.mkv']);
  assert.match(heard[0]!.lost, /subtitle track/);
  const onDisk = readJson<SessionRecord>(path.join(session.dir, 'session.json'));
  assert.equal(onDisk.ended, 'recording_failed');
  assert.ok(onDisk.subtitle_error);
  const facts = await recordingFacts(path.join(session.dir, 'recording.mkv'));
  assert.equal(facts.video?.packets, n, 'the recording is untouched');
  assert.equal(facts.decodeErrors, '');
  assert.deepEqual(readdirSync(session.dir).filter((f) => f.includes('tmp')), [], 'no half-written copy left');
});
