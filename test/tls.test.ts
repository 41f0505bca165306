import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { isLoopback } from '../src/server';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { encode, type ServerEvent } from '../src/protocol';
import { VigilServer } from '../src/server';
import { clientArgs, recordingFacts, runVigil, sessionDirOf, sleep, startServer, tempDir, video, waitUntil } from './helpers';
import { selfSigned } from './tls-cert';
import { WirePeer } from './wire-peer';

test('TLS: a client trusting the server\'s certificate streams; one that does not, and plain TCP, are refused', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const { cert, key } = await selfSigned(dir);
  const server = await startServer(t, dir, ['--tls-cert', cert, '--tls-key', key]);
  const listening = server.logs.find((l) => l.msg === 'listening')!;
  assert.equal(listening['tls'], true);

  const ok = await runVigil(t, clientArgs(server.port, 'secure', video('megamind-clip.mp4'), null, ['--tls-ca', cert, '--width', '320', '--height', '240'])).done;
  assert.equal(ok.code, 0, ok.stderr);
  const facts = await recordingFacts(path.join(sessionDirOf(dir, 'secure'), 'recording.mkv'));
  assert.equal(facts.video?.packets, 108);

  const untrusted = await runVigil(t, clientArgs(server.port, 'doubtful', video('megamind-clip.mp4'), null, ['--tls'])).done;
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /the server's TLS certificate is not trusted .*; pass its CA with --tls-ca/);

  // A plain-TCP candidate speaks vigil frames into a TLS listener: the handshake fails, the server logs and counts it.
  const plain = await runVigil(t, clientArgs(server.port, 'plain', video('megamind-clip.mp4'), null)).done;
  assert.equal(plain.code, 1);
  await server.waitForLog((l) => l['reason'] === 'tls_failed');
  // A connection that never starts its handshake is cut at the handshake deadline.
  const silent = net.connect({ host: '127.0.0.1', port: server.port });
  silent.on('error', () => undefined);
  let silentClosed = false;
  silent.once('close', () => (silentClosed = true));
  await waitUntil('the server to close a connection that never starts TLS (5 s handshake deadline)', () => silentClosed);
  let drops: Record<string, number> = {};
  await waitUntil('two tls_failed drops counted', async () => {
    const st = JSON.parse((await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done).stdout) as { server: { drops: Record<string, number> } };
    drops = st.server.drops;
    return (drops['tls_failed'] ?? 0) >= 2;
  }, { seen: () => drops, everyMs: 200 });
});

test('only loopback addresses count as local', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.168.1.10', 'exam.example.org']) assert.equal(isLoopback(h), false, h);
});

test('TLS: a client that reads every reply is never a slow consumer; one that stops reading is', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const { cert, key } = await selfSigned(dir);
  // A short drain timeout, so that several of them pass while small replies keep flowing; a high message rate,
  // so that the PING flood below outruns the kernel's buffers before the rate limit would stop it.
  const drainTimeoutMs = 300;
  const server = new VigilServer({
    host: '127.0.0.1', port: 0, recordDir: dir, adminSocket: null, auth: 'none', logger: pino({ level: 'silent' }), version: 'test',
    tls: { cert: readFileSync(cert), key: readFileSync(key) }, drainTimeoutMs, maxMessagesPerSecond: 1_000_000,
  });
  const drops: ServerEvent[] = [];
  server.events.subscribe((e) => {
    if (e.kind === 'connection_dropped') drops.push(e);
  });
  const { port } = await server.listen();
  t.after(() => server.close());
  const peer = await WirePeer.connect(port, { tlsCa: readFileSync(cert) });
  peer.hello('reader', { video: false });
  await peer.waitFor('welcome');
  // Every PING is answered by a PONG the peer reads at once; 10 drain timeouts pass meanwhile.
  const pings = Math.ceil((drainTimeoutMs * 10) / 50);
  for (let i = 0; i < pings; i++) {
    peer.send({ type: 'ping', nonce: i });
    await sleep(50);
  }
  await sleep(drainTimeoutMs * 2);
  assert.equal(drops.length, 0, `no connection was dropped: ${JSON.stringify(drops)}`);
  assert.equal(peer.received.filter((m) => m.type === 'pong').length, pings);
  assert.ok(!peer.received.some((m) => m.type === 'bye'), 'no BYE');

  // The same peer stops reading and keeps asking: over TLS too, that is a slow consumer.
  peer.socket.pause();
  const flood = Buffer.concat(Array.from({ length: 1000 }, (_, i) => encode({ type: 'ping', nonce: i })));
  for (const t0 = performance.now(); drops.length === 0 && !peer.socket.destroyed; await sleep(5)) {
    if (peer.socket.writableLength < 1 << 20) peer.socket.write(flood);
    assert.ok(performance.now() - t0 < 30_000, 'a TLS peer that stopped reading was never dropped');
  }
  assert.equal(drops[0]?.kind === 'connection_dropped' ? drops[0].reason : null, 'slow_consumer');
  peer.destroy();
});
