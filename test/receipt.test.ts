import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { encode } from '../src/protocol';
import { recordingFacts, tempDir } from './helpers';
import { TINY_JPEG, WirePeer, connectionOf, inProcessServer, pcmChunk } from './wire-peer';

test('RECEIPT and ALERT reach a client that accepts them and never an older client', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const { server, port } = await inProcessServer(t, dir);
  const older = await WirePeer.connect(port);
  older.hello('older');
  const newer = await WirePeer.connect(port);
  newer.hello('newer', { accepts: ['receipt', 'alert'] });
  const welcome = await newer.waitFor('welcome');
  await older.waitFor('welcome');

  assert.equal(connectionOf(server, 'older').alert('recording_failed', 'disk full'), false);
  assert.equal(connectionOf(server, 'newer').alert('recording_failed', 'disk full'), true);
  assert.deepEqual(await newer.waitFor('alert'), { type: 'alert', code: 'recording_failed', text: 'disk full' });

  // Video seq 2 and 3 never arrive (a client that lost them); audio is complete.
  for (const peer of [older, newer]) {
    for (const [seq, ts] of [[0, 0], [1, 100], [4, 400]] as const) peer.send({ type: 'video_frame', seq, timestampMs: ts, jpeg: TINY_JPEG });
    for (const seq of [0, 1, 2]) peer.send({ type: 'audio_chunk', seq, timestampMs: seq * 40, pcm: pcmChunk(40, seq) });
    peer.send({ type: 'bye', reason: 'normal', code: 0, text: 'done' });
  }
  const receipt = await newer.waitFor('receipt');
  await newer.waitFor('bye');
  await older.waitFor('bye');
  assert.deepEqual(older.received.map((m) => m.type), ['welcome', 'bye'], 'an older client gets only what it knows');
  assert.deepEqual(newer.received.map((m) => m.type), ['welcome', 'alert', 'receipt', 'bye'], 'RECEIPT comes just before the final BYE');
  assert.deepEqual(receipt, {
    type: 'receipt',
    sessionId: welcome.sessionId,
    intact: true,
    gapsTruncated: false,
    video: { messages: 3, samples: 0, firstSeq: 0, lastSeq: 4, gaps: [{ fromSeq: 2, toSeq: 3, afterMs: 100, beforeMs: 400 }] },
    audio: { messages: 3, samples: 3 * 640, firstSeq: 0, lastSeq: 2, gaps: [] },
  });
  // The counts are the recording's: ffprobe finds exactly that.
  const sessions = readdirSync(path.join(dir, 'newer'));
  const facts = await recordingFacts(path.join(dir, 'newer', sessions[0]!, 'recording.mkv'));
  assert.equal(facts.video?.packets, 3);
  assert.ok(Math.abs(facts.audio!.duration - 0.12) < 0.001, `audio ${facts.audio!.duration} s`);
});

test('a slow consumer is dropped, comes back into the same session, and the recording holds everything', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  // A high message rate lets the PING flood below outrun the kernel's buffers before the rate limit stops it.
  const { port, events } = await inProcessServer(t, dir, { drainTimeoutMs: 500, maxMessagesPerSecond: 1_000_000 });
  const first = await WirePeer.connect(port);
  first.hello('sluggish', { accepts: ['receipt'], video: false });
  const welcome = await first.waitFor('welcome');
  for (let seq = 0; seq < 10; seq++) first.send({ type: 'audio_chunk', seq, timestampMs: seq * 40, pcm: pcmChunk(40, seq) });
  // Stops reading and keeps asking for PONGs: the replies pile up unread.
  first.socket.pause();
  const flood = Buffer.concat(Array.from({ length: 1000 }, (_, i) => encodePing(i)));
  const t0 = performance.now();
  while (!events.some((e) => e.kind === 'connection_dropped') && !first.socket.destroyed) {
    if (first.socket.writableLength < 1 << 20) first.socket.write(flood);
    await new Promise((r) => setTimeout(r, 5));
    assert.ok(performance.now() - t0 < 30_000, 'the server never dropped the client that stopped reading');
  }
  const drop = events.find((e) => e.kind === 'connection_dropped');
  assert.equal(drop?.kind === 'connection_dropped' ? drop.reason : null, 'slow_consumer');
  first.destroy();

  const second = await WirePeer.connect(port);
  second.hello('sluggish', { accepts: ['receipt'], video: false });
  const again = await second.waitFor('welcome');
  assert.equal(again.resumed, true, 'slow_consumer keeps the session for a resume');
  assert.equal(again.sessionId, welcome.sessionId);
  for (let seq = again.lastAudioSeq + 1; seq < 20; seq++) second.send({ type: 'audio_chunk', seq, timestampMs: seq * 40, pcm: pcmChunk(40, seq) });
  second.send({ type: 'bye', reason: 'normal', code: 0, text: 'done' });
  const receipt = await second.waitFor('receipt');
  assert.equal(receipt.sessionId, welcome.sessionId);
  assert.deepEqual(receipt.audio, { messages: 20, samples: 20 * 640, firstSeq: 0, lastSeq: 19, gaps: [] });
  assert.deepEqual(readdirSync(path.join(dir, 'sluggish')), [welcome.sessionId], 'one session folder');
});

function encodePing(nonce: number): Buffer {
  return encode({ type: 'ping', nonce });
}
