import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import type { PreviewFrame } from '../src/protocol';
import { audio, clientArgs, runVigil, startServer, tempDir, video, waitUntil } from './helpers';

function rms(pcm: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) sum += pcm.readInt16LE(i) ** 2;
  return Math.sqrt(sum / Math.max(1, pcm.length / 2));
}

test('an H.264 + Opus candidate: listening in hears its speech decoded to 48 kHz PCM, the preview shows its snapshots', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--detector', 'none']);
  const c = runVigil(t, clientArgs(server.port, 'speaker', video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), ['--codec', 'h264', '--loop']));
  await c.waitForLine(/^WELCOME/);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());

  const got: Buffer[] = [];
  admin.onAudio((a) => {
    assert.equal(a.sample_rate, 48000);
    assert.equal(a.channels, 1);
    got.push(Buffer.from(a.pcm, 'base64'));
  });
  await admin.command({ type: 'listen', id: 'speaker' });
  const gotBytes = (): number => got.reduce((n, b) => n + b.length, 0);
  await waitUntil('2 s of decoded audio on the admin socket', () => gotBytes() > 48000 * 2 * 2, { seen: gotBytes });
  await admin.command({ type: 'listen_stop' });
  const heard = Buffer.concat(got);
  // Speech, not silence or noise from a broken decode: the sample is loud speech (RMS of the source ~ 2000-4000).
  t.diagnostic(`RMS of what was heard: ${rms(heard).toFixed(0)}`);
  assert.ok(rms(heard) > 500, `RMS ${rms(heard)}`);

  const frames: PreviewFrame[] = [];
  admin.onFrame((f) => frames.push(f));
  await admin.command({ type: 'preview', id: 'speaker', fps: 5 });
  await waitUntil('a preview frame', () => frames.length > 0);
  const jpeg = Buffer.from(frames[0]!.jpeg, 'base64');
  assert.equal(jpeg.readUInt16BE(0), 0xffd8, 'a JPEG');
  // The 320x240 snapshot, found by its SOF0 marker: height then width.
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  assert.deepEqual([jpeg.readUInt16BE(sof + 7), jpeg.readUInt16BE(sof + 5)], [320, 240]);
  await admin.command({ type: 'preview_stop' });
  c.proc.kill('SIGINT');
  assert.equal((await c.done).code, 130);
});
