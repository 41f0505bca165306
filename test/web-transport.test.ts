import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { AdminClient } from '../src/admin/client';
import { HEADER_SIZE, Kind, MAGIC } from '../src/protocol';
import { issueToken, loadSecret } from '../src/server';
import { staticFile } from '../src/server/web-listener';
import { readJson, recordingFacts, runVigil, sessionDirOf, startServer, tempDir, waitUntil, type RunningServer } from './helpers';
import { TINY_JPEG, WirePeer, pcmChunk } from './wire-peer';

const NO_DETECTOR = ['--detector', 'none'];

async function webPort(server: RunningServer): Promise<number> {
  return (await server.waitForLog((l) => l.msg === 'web listening'))['port'] as number;
}

async function drops(t: { after(fn: () => void): void }, server: RunningServer): Promise<Record<string, number>> {
  const r = await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done;
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { server: { drops: Record<string, number> } }).server.drops;
}

/** Streams `frames` video frames and 40 ms audio chunks, says goodbye and waits for the server's BYE. */
async function stream(peer: WirePeer<Duplex>, frames: number): Promise<void> {
  for (let seq = 0; seq < frames; seq++) {
    peer.send({ type: 'video_frame', seq, timestampMs: seq * 100, jpeg: TINY_JPEG });
    peer.send({ type: 'audio_chunk', seq, timestampMs: seq * 40, pcm: pcmChunk(40, seq) });
  }
  peer.send({ type: 'bye', reason: 'normal', code: 1000, text: 'done' });
  await peer.bye();
}

test('a candidate over the WebSocket is recorded like a TCP candidate beside it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--web-port', '0', ...NO_DETECTOR]);
  const port = await webPort(server);
  const web = await WirePeer.connectWs(port, { origin: `http://127.0.0.1:${port}` });
  const tcp = await WirePeer.connect(server.port);
  t.after(() => (web.destroy(), tcp.destroy()));
  web.hello('browser');
  tcp.hello('native');
  await Promise.all([web.waitFor('welcome'), tcp.waitFor('welcome')]);
  await Promise.all([stream(web, 25), stream(tcp, 25)]);
  for (const id of ['browser', 'native']) {
    const sdir = sessionDirOf(dir, id);
    const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
    assert.equal(facts.video?.packets, 25, id);
    assert.ok(Math.abs(facts.audio!.duration - 1.0) < 0.001, `${id}: audio ${facts.audio!.duration} s`);
    assert.equal(readJson<{ ended: string }>(path.join(sdir, 'session.json')).ended, 'client_bye');
  }
  // The session records where the candidate came from, as for TCP.
  assert.match(readJson<{ remote_address: string }>(path.join(sessionDirOf(dir, 'browser'), 'session.json')).remote_address, /^127\.0\.0\.1:\d+$/);
});

test('hostile WebSockets get the TCP reasons, limits and counters, and nobody else notices', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--web-port', '0', '--max-video-bytes', '4096', ...NO_DETECTOR]);
  const port = await webPort(server);
  const bystander = await WirePeer.connect(server.port);
  t.after(() => bystander.destroy());
  bystander.hello('bystander');
  await bystander.waitFor('welcome');

  // Garbage instead of HELLO.
  const garbage = await WirePeer.connectWs(port);
  garbage.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  const bye1 = await garbage.bye();
  assert.equal(bye1.reason, 'protocol_error');
  await garbage.closed;

  // A frame over the per-kind limit: refused from its header, before the payload.
  const big = await WirePeer.connectWs(port);
  big.hello('big');
  await big.waitFor('welcome');
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt8(MAGIC, 0);
  header.writeUInt8(Kind.VIDEO_FRAME, 1);
  header.writeUInt32BE(5000, 2);
  big.send(header);
  const bye2 = await big.bye();
  assert.equal(bye2.reason, 'message_too_large');
  assert.match(bye2.text, /VIDEO_FRAME declares 5000 bytes; the limit is 4096/);

  // One WebSocket message far over any payload limit: ws refuses it unread.
  const huge = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((resolve, reject) => (huge.once('open', resolve), huge.once('error', reject)));
  const closeCode = new Promise<number>((resolve) => huge.once('close', (code) => resolve(code)));
  huge.send(Buffer.alloc(3 * 1024 * 1024 + 64));
  assert.equal(await closeCode, 1009, 'closed: message too big');

  // A page on another origin.
  await assert.rejects(WirePeer.connectWs(port, { origin: 'https://evil.example' }), /HTTP 403/);
  const refused = await server.waitForLog((l) => l['reason'] === 'origin_refused');
  assert.match(refused.msg, /^dropped: WebSocket from a page on another origin \(https:\/\/evil\.example\)/);

  // The bystander streamed on, untouched.
  assert.equal(bystander.received.filter((m) => m.type === 'bye').length, 0);
  bystander.send({ type: 'video_frame', seq: 0, timestampMs: 0, jpeg: TINY_JPEG });
  bystander.send({ type: 'bye', reason: 'normal', code: 1000, text: 'done' });
  await bystander.bye();
  const d = await drops(t, server);
  assert.equal(d['protocol_error'], 1);
  assert.equal(d['message_too_large'], 2);
  assert.equal(d['origin_refused'], 1);
});

test('token auth over the WebSocket: no token is refused, a token from `vigil token issue` is accepted', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--web-port', '0', '--auth', 'tokens', ...NO_DETECTOR]);
  const port = await webPort(server);
  const anon = await WirePeer.connectWs(port);
  anon.hello('anon');
  const bye = await anon.bye();
  assert.equal(bye.reason, 'auth_failed');
  const secret = await loadSecret(path.join(dir, 'vigil.secret'), false);
  const token = await issueToken(secret, 'ticket', 3600);
  const ok = await WirePeer.connectWs(port);
  t.after(() => ok.destroy());
  ok.send({ type: 'hello', version: 1, candidateId: 'ticket', token, clientVersion: 'ws-test', video: null, audio: { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 } });
  await ok.waitFor('welcome');
});

test('`vigil token issue --url` prints the candidate\'s link last, with id and token in the fragment', async (t) => {
  const dir = tempDir(t);
  const r = await runVigil(t, ['token', 'issue', '--id', 'ana.b', '--url', 'https://exam.example.org:8443', '--secret-file', path.join(dir, 'vigil.secret')]).done;
  // The secret does not exist yet: token issue does not create one (the server does).
  assert.notEqual(r.code, 0);
  mkdirSync(path.join(dir, 'rec'));
  await loadSecret(path.join(dir, 'rec', 'vigil.secret'));
  const ok = await runVigil(t, ['token', 'issue', '--id', 'ana.b', '--url', 'https://exam.example.org:8443', '--secret-file', path.join(dir, 'rec', 'vigil.secret')]).done;
  assert.equal(ok.code, 0, ok.stderr);
  const lines = ok.stdout.trim().split('\n');
  const link = new URL(lines.at(-1)!);
  assert.equal(link.origin + link.pathname, 'https://exam.example.org:8443/');
  const params = new URLSearchParams(link.hash.slice(1));
  assert.equal(params.get('id'), 'ana.b');
  assert.equal(params.get('token'), lines[0]);
  const bad = await runVigil(t, ['token', 'issue', '--id', 'x', '--url', 'ftp://x', '--secret-file', path.join(dir, 'rec', 'vigil.secret')]).done;
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--url must be http:\/\/ or https:\/\//);
});

test('the page\'s files: only what is inside its folder, never dot-files, with a strict content policy', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const page = path.join(dir, 'page');
  mkdirSync(path.join(page, 'sub'), { recursive: true });
  writeFileSync(path.join(page, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(path.join(page, '.secret'), 'no');
  writeFileSync(path.join(dir, 'outside.txt'), 'no');
  assert.equal(staticFile(page, '/')?.path, path.join(page, 'index.html'));
  assert.equal(staticFile(page, '/index.html')?.size, 31);
  for (const bad of ['/.secret', '/../outside.txt', '/%2e%2e/outside.txt', '/sub', '/sub/../../outside.txt', '/%00', '/%zz']) assert.equal(staticFile(page, bad), null, bad);

  const server = await startServer(t, path.join(dir, 'rec'), ['--web-port', '0', ...NO_DETECTOR]);
  const port = await webPort(server);
  const get = (p: string, method = 'GET') =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: p, method }, (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.once('error', reject);
      req.end();
    });
  assert.equal((await get('/', 'POST')).status, 405);
  assert.equal((await get('/../../etc/passwd')).status, 404);
});

test('a WebSocket that dies (a closed tab, a lost network) keeps the session for a resume, and the resume continues it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--web-port', '0', '--resume-window', '30', ...NO_DETECTOR]);
  const port = await webPort(server);
  const first = await WirePeer.connectWs(port);
  first.hello('tab');
  const welcome = await first.waitFor('welcome');
  for (let seq = 0; seq < 5; seq++) first.send({ type: 'video_frame', seq, timestampMs: seq * 100, jpeg: TINY_JPEG });
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  await waitUntil('5 frames recorded', async () => (await admin.status()).candidates.find((c) => c.id === 'tab')?.frames_recorded === 5);
  first.socket.destroy(); // the tab is gone: no BYE, the TCP connection under the WebSocket just ends
  await server.waitForLog((l) => l.msg === 'connection lost; session kept for a resume' && l['id'] === 'tab');
  const again = await WirePeer.connectWs(port);
  t.after(() => again.destroy());
  again.hello('tab');
  const resumed = await again.waitFor('welcome');
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.sessionId, welcome.sessionId);
  assert.equal(resumed.lastVideoSeq, 4);
  for (let seq = 5; seq < 10; seq++) again.send({ type: 'video_frame', seq, timestampMs: seq * 100 + 2000, jpeg: TINY_JPEG });
  again.send({ type: 'bye', reason: 'normal', code: 1000, text: 'done' });
  await again.bye();
  const sdir = sessionDirOf(dir, 'tab');
  assert.equal((await recordingFacts(path.join(sdir, 'recording.mkv'))).video?.packets, 10);
  const incidents = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8');
  assert.match(incidents, /"kind":"disconnected"/);
});
