import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import { audio, clientArgs, runVigil, startServer, tempDir, waitUntil } from './helpers';

const SOURCE_PCM = (): Buffer => readFileSync(audio('speech-16k-mono.wav')).subarray(44);

test('listening in: the admin socket streams the candidate\'s audio byte for byte, and vigil listen plays it', { timeout: 40_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--detector', 'none']);
  const c = runVigil(t, clientArgs(server.port, 'speaker', null, audio('speech-16k-mono.wav')));
  await c.waitForLine(/^WELCOME/);

  // What `vigil listen` receives: every chunk, exactly as sent, from where it joined.
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const got: Buffer[] = [];
  admin.onAudio((a) => {
    assert.equal(a.sample_rate, 16000);
    got.push(Buffer.from(a.pcm, 'base64'));
  });
  await admin.command({ type: 'listen', id: 'speaker' });
  const gotBytes = (): number => got.reduce((n, b) => n + b.length, 0);
  await waitUntil('1.5 s of the candidate\'s audio on the admin socket', () => gotBytes() > 16000 * 2 * 1.5, { seen: gotBytes });
  await admin.command({ type: 'listen_stop' });
  const heard = Buffer.concat(got);
  const src = SOURCE_PCM();
  const at = src.indexOf(heard.subarray(0, 3200));
  assert.ok(at >= 0 && at % 2 === 0, 'the first chunk is a slice of the source');
  assert.ok(src.subarray(at, at + heard.length).equals(heard), 'every byte after it matches the source');

  // `vigil listen` plays into an ALSA file device (this test's own config), with nothing on stdout.
  const outFile = path.join(dir, 'played.raw');
  const conf = path.join(dir, 'out.conf');
  writeFileSync(conf, `pcm.!default {\n  type file\n  slave.pcm { type null }\n  file "${outFile}"\n  infile "/dev/zero"\n  format "raw"\n}\n`);
  const l = runVigil(t, ['listen', 'speaker', '--admin-socket', server.adminSocket], { env: { ALSA_CONFIG_PATH: conf } });
  // Until a second and a bit of the candidate's audio has been played past the device's pre-roll silence.
  const playedBody = (): number => {
    const bytes = existsSync(outFile) ? readFileSync(outFile) : Buffer.alloc(0);
    const first = bytes.findIndex((b) => b !== 0);
    return first < 0 ? 0 : bytes.length - first;
  };
  await waitUntil('a second of audio played by vigil listen', () => playedBody() >= 16000 * 2 + 6400, { seen: playedBody, everyMs: 100 });
  l.proc.kill('SIGINT');
  const r = await l.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '', 'naudiodon printed nothing');
  assert.match(r.stderr, /^listening to speaker \(16000 Hz, 1 channel\(s\)\); Ctrl-C stops$/m);
  const played = readFileSync(outFile);
  // The device starts with a moment of silence (PortAudio's pre-roll); after it, every byte played is the
  // candidate's audio, in order, from where listening began.
  let lead = 0;
  while (lead < played.length && played[lead] === 0) lead++;
  lead -= lead % 2;
  const body = played.subarray(lead);
  assert.ok(body.length >= 16000 * 2, `${body.length} bytes played after ${lead} bytes of pre-roll`);
  const from = src.indexOf(body.subarray(0, 2000));
  assert.ok(from >= 0, 'playback starts inside the source');
  let end = body.length;
  while (end > 0 && body[end - 1] === 0) end--; // a trailing pad of silence when playback stops
  assert.ok(src.subarray(from, from + end).equals(body.subarray(0, end)), 'the bytes played match what the candidate sent');

  const none = await runVigil(t, ['listen', 'nobody', '--admin-socket', server.adminSocket]).done;
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no connected candidate "nobody" with audio/);
  await c.done;
});
