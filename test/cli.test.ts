import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import type { ServerEvent } from '../src/protocol';
import type { SessionRecord } from '../src/server';
import { audio, clientArgs, readJson, recordingFacts, runVigil, sessionDirOf, startServer, tempDir, video, waitUntil } from './helpers';

/** Waits until the server has recorded at least `n` frames of candidate `id` (read through the admin socket). */
async function framesRecorded(adminSocket: string, id: string, n: number): Promise<void> {
  const admin = await AdminClient.connect(adminSocket);
  try {
    let seen = 0;
    await waitUntil(`${n} frames recorded from ${id}`, async () => {
      seen = (await admin.status()).candidates.find((c) => c.id === id)?.frames_recorded ?? 0;
      return seen >= n;
    }, { seen: () => seen });
  } finally {
    admin.close();
  }
}

describe('vigil status', () => {
  test('with no server running: a clear message and a non-zero exit', async (t) => {
    const dir = tempDir(t);
    const r = await runVigil(t, ['status', '--admin-socket', path.join(dir, 'vigil.sock')]).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^vigil status: no vigil server is running at .*vigil\.sock/);
    assert.equal(r.stdout, '');
  });

  test('with no candidates: the header and "no candidates connected"', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const r = await runVigil(t, ['status', '--admin-socket', server.adminSocket]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vigil \S+ on 127\.0\.0\.1:\d+, up \d+s, 0 candidate\(s\)/);
    assert.match(r.stdout, /no candidates connected/);
    const j = JSON.parse((await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done).stdout) as { candidates: unknown[] };
    assert.deepEqual(j.candidates, []);
  });
});

test('vigil status --json shows per candidate how often its video is analysed and how late its verdicts are', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--analyze-fps', '5']);
  const c = runVigil(t, clientArgs(server.port, 'timed', video('candidate-ok.mp4'), null, ['--loop']));
  await c.waitForLine(/^WELCOME/);
  type Cand = { id: string; analyses: number; analysis_gated: number; analysis_quick: number; analysis_skipped: number; analysis_failed: number; analysis_rate: number; verdict_latency_ms: { p50: number; p99: number; max: number; n: number } | null; change_latency_ms: { p50: number; p99: number; max: number; n: number } | null };
  let cand: Cand | undefined;
  // Wait until ten verdicts have been timed (detector processes start cold on a loaded machine).
  await waitUntil(
    'ten analysed and timed verdicts in status --json',
    async () => {
      const st = await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done;
      cand = (JSON.parse(st.stdout) as { candidates: Cand[] }).candidates[0];
      return Boolean(cand && cand.analyses >= 10 && cand.verdict_latency_ms);
    },
    { timeoutMs: 40_000, everyMs: 500, seen: () => cand },
  );
  const got: Cand | undefined = cand;
  assert.ok(got, 'a candidate in status');
  assert.equal(got.id, 'timed');
  // Motion gating answers some frames of a slowly panning picture with the last verdict; never most of them.
  assert.ok(got.analysis_gated >= 0 && got.analysis_quick >= 0, `${got.analysis_gated} gated, ${got.analysis_quick} quick`);
  assert.equal(got.analysis_failed, 0);
  assert.ok(got.analysis_skipped >= 0);
  // At most 5 analyses a second of a 15 fps stream: the other frames are never offered or are skipped.
  assert.ok(got.analysis_rate > 0 && got.analysis_rate <= 6, `rate ${got.analysis_rate}`);
  const v = got.verdict_latency_ms;
  assert.ok(v, 'verdict latency measured');
  // Gated and quick answers (motion gating) are verdicts too: candidate-ok.mp4 shows one face, moving a little.
  assert.ok(v.n === Math.min(got.analyses + got.analysis_gated + got.analysis_quick, 256) && v.p50 > 0 && v.p50 <= v.p99 && v.p99 <= v.max, JSON.stringify(v));
  assert.ok(got.change_latency_ms && got.change_latency_ms.p50 >= v.p50, JSON.stringify(got.change_latency_ms));
});

describe('vigil serve', () => {
  test('makes the admin socket 0600 and refuses a second server on the same socket or port', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    assert.equal(statSync(server.adminSocket).mode & 0o777, 0o600);
    const sameSocket = await runVigil(t, ['serve', '--port', '0', '--record-dir', dir]).done;
    assert.equal(sameSocket.code, 1);
    assert.match(sameSocket.stderr, /another vigil server is answering on .*vigil\.sock/);
    const other = tempDir(t);
    const samePort = await runVigil(t, ['serve', '--port', String(server.port), '--record-dir', other]).done;
    assert.equal(samePort.code, 1);
    assert.match(samePort.stderr, /port is in use/);
  });

  test('SIGTERM tells every candidate and finalises every recording', { timeout: 30_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const c = runVigil(t, clientArgs(server.port, 'term', video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), ['--reconnect', '0']));
    await c.waitForLine(/^WELCOME/);
    await framesRecorded(server.adminSocket, 'term', 15);
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0);
    const r = await c.done;
    assert.equal(r.code, 4, 'closed by the server');
    assert.match(r.stdout, /^BYE going_away: the server is shutting down$/m);
    const sdir = sessionDirOf(dir, 'term');
    const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
    assert.equal(rec.ended, 'server_shutdown');
    const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
    assert.equal(facts.video?.packets, rec.frames_written);
    assert.equal(facts.decodeErrors, '');
  });
});

describe('vigil client', () => {
  test('an unreadable file: exit 2 with the reason', async (t) => {
    const r = await runVigil(t, clientArgs(1, 'x', '/nonexistent.mp4', null)).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^vigil client: cannot read \/nonexistent\.mp4/);
  });

  test('a WAV that is not 16-bit PCM is refused before connecting', async (t) => {
    const r = await runVigil(t, clientArgs(1, 'x', null, video('megamind-clip.mp4'))).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a readable WAV file/);
  });

  test('nothing to send: exit 2', async (t) => {
    const r = await runVigil(t, clientArgs(1, 'x', null, null)).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nothing to send/);
  });

  test('no server listening: exit 1 with "connection refused"', async (t) => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const r = await runVigil(t, clientArgs(port, 'x', null, audio('silence-10s.wav'))).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot connect to 127\.0\.0\.1:\d+: connection refused/);
  });

  test('--fps resamples the file: 7.2 s at 5 fps is 36 frames, all recorded', { timeout: 20_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const r = await runVigil(t, clientArgs(server.port, 'slow', video('megamind-clip.mp4'), null, ['--fps', '5', '--width', '320', '--height', '240'])).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sent 36 video frames/);
    const facts = await recordingFacts(path.join(sessionDirOf(dir, 'slow'), 'recording.mkv'));
    assert.equal(facts.video?.packets, 36);
    assert.equal(facts.audio, null, 'no audio track when no audio was declared');
  });

  test('a frame larger than the server accepts is explained by the client, not sent', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir, ['--max-video-bytes', '4096']);
    const r = await runVigil(t, clientArgs(server.port, 'big', video('megamind-clip.mp4'), null, ['--quality', '95'])).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exceeds the server's limit of 4084 bytes; lower --quality, --width or --height/);
    assert.equal(server.logs.filter((l) => l.msg.startsWith('dropped:')).length, 0);
    await server.waitForLog((l) => l.msg === 'recording finalised');
    assert.equal(readJson<SessionRecord>(path.join(sessionDirOf(dir, 'big'), 'session.json')).ended, 'client_bye');
  });

  test('Ctrl-C: the client says goodbye, the recording is finalised, exit 130', { timeout: 40_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const c = runVigil(t, clientArgs(server.port, 'quitter', video('candidate-ok.mp4'), audio('speech-16k-mono.wav')));
    await c.waitForLine(/^WELCOME/);
    await framesRecorded(server.adminSocket, 'quitter', 15);
    c.proc.kill('SIGINT');
    const r = await c.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted; server recorded \d+ video frames/);
    const rec = readJson<SessionRecord>(path.join(sessionDirOf(dir, 'quitter'), 'session.json'));
    assert.equal(rec.ended, 'client_bye');
    assert.ok(rec.frames_written >= 15);
  });

  test('past --max-candidates a newcomer is refused with server_full, and the first keeps streaming', { timeout: 30_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir, ['--max-candidates', '1']);
    const first = runVigil(t, clientArgs(server.port, 'first', video('megamind-clip.mp4'), null, ['--width', '320', '--height', '240']));
    await first.waitForLine(/^WELCOME/);
    const second = await runVigil(t, clientArgs(server.port, 'second', null, audio('silence-10s.wav'))).done;
    assert.equal(second.code, 3);
    assert.match(second.stdout, /^BYE server_full: the server takes 1 candidates at once; try again later$/m);
    const r = await first.done;
    assert.equal(r.code, 0);
    assert.match(r.stdout, /sent 108 video frames/);
  });

  test('an invalid candidate id is refused by the server: exit 3 with its reason', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const r = await runVigil(t, clientArgs(server.port, 'bad/id', null, audio('silence-10s.wav'))).done;
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^BYE invalid_hello: invalid candidate id "bad\/id"/m);
    assert.match(r.stderr, /refused by the server \(invalid_hello\)/);
  });
});

describe('admin socket', () => {
  test('switches a candidate to audio only and back, and kicks it; events are streamed', { timeout: 40_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const c = runVigil(t, clientArgs(server.port, 'mode-me', video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), ['--loop']));
    await c.waitForLine(/^WELCOME/);
    const admin = await AdminClient.connect(server.adminSocket);
    t.after(() => admin.close());
    const events: ServerEvent[] = [];
    await admin.subscribe((e) => events.push(e));

    await admin.command({ type: 'set_mode', id: 'mode-me', mode: 'audio' });
    await c.waitForLine(/^MODE audio/);
    const now = async () => (await admin.status()).candidates[0]!;
    // A second of audio after the switch has arrived behind any video the client sent before it (one TCP stream).
    const atSwitch = (await now()).audio_s;
    await waitUntil('a second of audio after the switch', async () => (await now()).audio_s > atSwitch + 1);
    const mark = await now();
    const before = mark.frames_received;
    await waitUntil('another second of audio in audio-only mode', async () => (await now()).audio_s > mark.audio_s + 1);
    const s = await now();
    assert.equal(s.mode, 'audio');
    assert.equal(s.frames_received, before, 'no video arrives in audio-only mode');

    await admin.command({ type: 'set_mode', id: 'mode-me', mode: 'both' });
    await c.waitForLine(/^MODE both/);
    await waitUntil('video to resume', async () => (await now()).frames_received > before);

    await assert.rejects(admin.command({ type: 'kick', id: 'nobody', reason: 'x' }), /no connected candidate "nobody"/);
    await admin.command({ type: 'kick', id: 'mode-me', reason: 'phone on the desk' });
    const r = await c.done;
    assert.equal(r.code, 4);
    assert.match(r.stdout, /^BYE kicked: phone on the desk$/m);
    await server.waitForLog((l) => l.msg === 'recording finalised' && l['id'] === 'mode-me');
    await waitUntil('the candidate_left event', () => events.some((e) => e.kind === 'candidate_left'), { seen: () => events.map((e) => e.kind) });
    // Face and speech events come and go with what the candidate does; the proctor's actions and the leave are
    // what this checks.
    assert.deepEqual(
      events.map((e) => e.kind).filter((k) => ['mode_changed', 'kicked', 'candidate_left'].includes(k)),
      ['mode_changed', 'mode_changed', 'kicked', 'candidate_left'],
    );
    const rec = readJson<SessionRecord>(path.join(sessionDirOf(dir, 'mode-me'), 'session.json'));
    assert.equal(rec.ended, 'kicked');
  });

  test('an admin client that stops reading is dropped, and candidates carry on', { timeout: 40_000 }, async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const c = runVigil(t, clientArgs(server.port, 'watched', video('candidate-ok.mp4'), null, ['--loop', '--quality', '95']));
    await c.waitForLine(/^WELCOME/);
    // Ask for everything the server can push, then never read: the kernel buffers fill, then the server's queue.
    const stalled = net.connect(server.adminSocket);
    stalled.on('error', () => undefined);
    await new Promise<void>((r) => stalled.once('connect', () => r()));
    stalled.write('{"req":1,"type":"subscribe"}\n{"req":2,"type":"preview","id":"watched","fps":15}\n');
    stalled.pause();
    const closed = new Promise<void>((r) => stalled.once('close', () => r()));
    await server.waitForLog((l) => l.msg === 'admin client not reading; dropped', 30_000);
    stalled.resume(); // drain what was buffered so the close is seen
    await closed;
    const st = await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done;
    const cand = (JSON.parse(st.stdout) as { candidates: Array<{ id: string; frames_received: number }> }).candidates[0]!;
    assert.equal(cand.id, 'watched');
    await framesRecorded(server.adminSocket, 'watched', cand.frames_received + 15);
    assert.doesNotMatch(c.stdout(), /DISCONNECTED|BYE/, 'the candidate kept its connection');
  });

  test('a malformed admin request gets an error reply, not a crash', async (t) => {
    const dir = tempDir(t);
    const server = await startServer(t, dir);
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(server.adminSocket, () => s.write('{"type":"nope","req":1}\nnot json\n'));
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        if (got.split('\n').length > 2) {
          s.destroy();
          resolve(got);
        }
      });
    });
    const lines = reply.trim().split('\n').map((l) => JSON.parse(l) as { type: string; code: string });
    assert.deepEqual(lines.map((l) => [l.type, l.code]), [['error', 'bad_request'], ['error', 'bad_request']]);
    const ok = await runVigil(t, ['status', '--admin-socket', server.adminSocket]).done;
    assert.equal(ok.code, 0);
  });
});

test('usage errors exit 2 from every subcommand, with commander\'s message', async (t) => {
  for (const args of [['client'], ['token', 'issue'], ['serve', '--port', 'x'], ['no-such-command']]) {
    const r = await runVigil(t, args).done;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /error: /);
  }
});
