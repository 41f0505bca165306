import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { Decoder, PROTOCOL_VERSION, encode, type ByeMessage, type Message } from '../src/protocol';
import { audio, clientArgs, recordingFacts, runVigil, sessionDirOf, sleep, startServer, tempDir, video, waitUntil } from './helpers';

/** Connects, writes `bytes`, and collects what the server answers until it closes the connection. */
function hostile(port: number, bytes: Buffer[], gapMs = 0): Promise<{ messages: Message[]; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    const decoder = new Decoder();
    const messages: Message[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close a hostile connection within 10 s'));
    }, 10_000);
    socket.on('connect', () => {
      (async () => {
        for (const b of bytes) {
          if (socket.destroyed) break;
          socket.write(b);
          if (gapMs) await sleep(gapMs);
        }
      })().catch(reject);
    });
    socket.on('data', (d: Buffer) => messages.push(...decoder.push(d).messages));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ messages, closedAfterMs: performance.now() - started });
    });
  });
}

const hello = (id: string): Buffer =>
  encode({ type: 'hello', version: PROTOCOL_VERSION, candidateId: id, token: '', clientVersion: 'hostile', video: { codec: 'jpeg', width: 640, height: 480, fps: 15 }, audio: null });

function byeOf(messages: Message[]): ByeMessage {
  const bye = messages.find((m): m is ByeMessage => m.type === 'bye');
  assert.ok(bye, `expected a BYE, got ${JSON.stringify(messages.map((m) => m.type))}`);
  return bye;
}

test('garbage, oversized and otherwise hostile connections are dropped with a reason while candidates record every frame', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--handshake-timeout', '1']);
  const good = [
    runVigil(t, clientArgs(server.port, 'good-1', video('megamind-clip.mp4'), audio('silence-10s.wav'))),
    runVigil(t, clientArgs(server.port, 'good-2', video('megamind-clip.mp4'), audio('speech-silence-speech.wav'), ['--width', '320', '--height', '240'])),
  ];
  await Promise.all(good.map((g) => g.waitForLine(/^WELCOME/)));

  const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff));
  const oversized = Buffer.from('5603' + 'ffffffff', 'hex'); // a VIDEO_FRAME declaring 4 GB
  const cases = await Promise.all([
    hostile(server.port, [random]),
    hostile(server.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]),
    hostile(server.port, [hello('big-frame'), oversized]),
    hostile(server.port, [Buffer.from('5601' + 'ffffffff', 'hex')]),
    hostile(server.port, [hello('../../etc')]),
    hostile(server.port, [hello('good-1')]),
    hostile(server.port, [encode({ type: 'ping', nonce: 1 })]),
    hostile(server.port, [hello('not-jpeg'), encode({ type: 'video_frame', seq: 0, timestampMs: 0, jpeg: Buffer.from('not a jpeg') })]),
    hostile(server.port, [hello('time-travel'), encode({ type: 'video_frame', seq: 0, timestampMs: 9e12, jpeg: Buffer.from('ffd8ffd9', 'hex') })]),
    hostile(server.port, []), // connects and says nothing
  ]);
  const reasons = cases.map((c) => byeOf(c.messages).reason);
  assert.deepEqual(reasons, [
    'protocol_error',
    'protocol_error',
    'message_too_large',
    'message_too_large',
    'invalid_hello',
    'id_in_use',
    'protocol_error',
    'protocol_error',
    'protocol_error',
    'handshake_timeout',
  ]);
  assert.match(byeOf(cases[2]!.messages).text, /declares 4294967295 bytes/);
  assert.match(byeOf(cases[5]!.messages).text, /already connected/);
  // Not before the 1 s handshake timeout; that it is closed at all is what the 10 s guard in hostile() checks.
  assert.ok(cases[9]!.closedAfterMs >= 900, `silent connection closed after ${cases[9]!.closedAfterMs} ms`);

  // Each drop is logged with its reason code.
  const dropped = () => server.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('dropped:'));
  for (const reason of new Set(reasons)) await waitUntil(`a log line for ${reason}`, () => dropped().some((l) => l['reason'] === reason));
  // A refused id never gets a folder outside (or inside) the record dir.
  assert.throws(() => sessionDirOf(dir, 'etc'));

  for (const [i, g] of good.entries()) {
    const r = await g.done;
    assert.equal(r.code, 0, r.stderr);
    const sent = Number(/sent (\d+) video frames/.exec(r.stdout)?.[1]);
    assert.equal(sent, 108);
    const facts = await recordingFacts(path.join(sessionDirOf(dir, `good-${i + 1}`), 'recording.mkv'));
    assert.equal(facts.video?.packets, sent, 'every frame recorded despite the hostile traffic');
    assert.equal(facts.decodeErrors, '');
  }
  const status = JSON.parse((await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done).stdout) as {
    server: { drops: Record<string, number> };
  };
  assert.equal(status.server.drops['message_too_large'], 2);
  assert.equal(status.server.drops['handshake_timeout'], 1);
});
