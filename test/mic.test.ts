import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import { VideoFileSource } from '../src/media/video-file';
import type { SessionRecord } from '../src/server';
import { MEDIA, audio, clientArgs, execText, ncc, readJson, runVigil, sessionDirOf, startServer, tempDir, waitUntil } from './helpers';

/** An ALSA configuration of the test's own: the default capture device plays `raw` (no hardware needed). */
async function fileMic(dir: string, wav: string): Promise<{ env: NodeJS.ProcessEnv; raw: Buffer }> {
  const rawFile = path.join(dir, 'mic.raw');
  await execText('ffmpeg', ['-v', 'error', '-y', '-i', wav, '-f', 's16le', '-ac', '1', '-ar', '16000', rawFile]);
  const conf = readFileSync(path.join(MEDIA, '..', 'alsa', 'file-mic.conf'), 'utf8').replace('infile "/dev/zero"', `infile "${rawFile}"`);
  const confFile = path.join(dir, 'mic.conf');
  writeFileSync(confFile, conf);
  return { env: { ALSA_CONFIG_PATH: confFile }, raw: readFileSync(rawFile) };
}


test('--audio mic streams the microphone through PortAudio: the recording matches the source, at real time', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const { env, raw } = await fileMic(dir, audio('speech-16k-mono.wav'));
  const devices = await runVigil(t, ['devices'], { env }).done;
  assert.equal(devices.code, 0, devices.stderr);
  assert.match(devices.stdout, /^ {2}mic:0 {2}default /m);

  const server = await startServer(t, dir, ['--detector', 'none']);
  const cwd = tempDir(t);
  const started = performance.now();
  const c = runVigil(t, clientArgs(server.port, 'live', null, 'mic'), { env: { ...env }, cwd });
  await c.waitForLine(/^WELCOME/);
  const admin = await AdminClient.connect(server.adminSocket);
  let audioS = 0;
  await waitUntil('5 s of microphone audio recorded', async () => (audioS = (await admin.status()).candidates[0]?.audio_s ?? 0) >= 5, { seen: () => audioS });
  admin.close();
  c.proc.kill('SIGINT');
  const r = await c.done;
  const streamedS = (performance.now() - started) / 1000;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(existsSync(path.join(cwd, 'crash.log')), false, 'naudiodon left no crash.log where the client ran');
  assert.doesNotMatch(r.stdout, /PortAudio|Input audio options/, 'naudiodon printed nothing on the candidate\'s terminal');

  const sdir = sessionDirOf(dir, 'live');
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  // The file device is not clocked: the client paces it, so no more audio is recorded than time has passed (an
  // unpaced device would deliver the whole 21 s file at once). Keeping up under load is bench's business.
  assert.ok(rec.audio_seconds >= 5 && rec.audio_seconds <= streamedS * 1.05, `${rec.audio_seconds} s recorded in ${streamedS.toFixed(2)} s`);
  const out = path.join(dir, 'out.raw');
  await execText('ffmpeg', ['-v', 'error', '-y', '-i', path.join(sdir, 'recording.mkv'), '-f', 's16le', '-ac', '1', '-ar', '16000', out]);
  const score = ncc(raw, readFileSync(out), 16000 * 4, 800);
  assert.ok(score >= 0.9, `normalised cross-correlation over the first 4 s: ${score.toFixed(3)}`);
});

test('the camera capture path (ffmpeg with an input format, no file to probe) works with a source this machine has', async () => {
  // No webcam here: ffmpeg's lavfi test source stands in for /dev/video0 through the very code V4L2 uses.
  const cam = await VideoFileSource.open('testsrc2=size=640x480:rate=15', { inputFormat: 'lavfi', width: 320, height: 240, fps: 15, quality: 70 });
  assert.deepEqual([cam.fps, cam.width, cam.height], [15, 320, 240]);
  const frames: Buffer[] = [];
  for await (const f of cam.frames()) {
    frames.push(f);
    if (frames.length === 10) break; // a live source never ends; leaving the loop stops ffmpeg
  }
  assert.equal(frames.length, 10);
  assert.ok(frames.every((f) => f.readUInt16BE(0) === 0xffd8));
  assert.ok(!frames[0]!.equals(frames[9]!), 'the picture moves');
});

test('a microphone or camera that is not there: a clear one-line error naming what was tried', async (t) => {
  const dir = tempDir(t);
  const { env } = await fileMic(dir, audio('silence-10s.wav'));
  const noDevice = await runVigil(t, clientArgs(1, 'x', null, 'mic:9'), { env }).done;
  assert.equal(noDevice.code, 2);
  assert.match(noDevice.stderr, /^vigil client: no audio input "9"; inputs here: 0 \(default\)$/m);
  const noCamera = await runVigil(t, clientArgs(1, 'x', 'camera:7', null)).done;
  assert.equal(noCamera.code, 2);
  assert.match(noCamera.stderr, /^vigil client: no camera: tried \/dev\/video7 \(no such device/m);
});
