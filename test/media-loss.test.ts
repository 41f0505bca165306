import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { CandidateClient, ClientExit, type VideoSource } from '../src/client/client';
import { isFinalBye } from '../src/client/exit';
import type { SessionRecord } from '../src/server';
import { audio, clientArgs, readJson, recordingFacts, runVigil, sleep, startServer, tempDir, video, waitUntil } from './helpers';
import { TINY_JPEG, connectionOf, inProcessServer } from './wire-peer';

/** `count` tiny JPEGs at `fps`: enough for the server, which records JPEGs as they come. */
function tinyVideo(count: number, fps: number): VideoSource {
  return {
    fps,
    async *frames() {
      for (let i = 0; i < count; i++) yield TINY_JPEG;
    },
  };
}

/** A relay the test can cut, and keep refusing connections through, as a network that is down for a while. */
async function outageLink(t: { after(fn: () => void): void }, targetPort: number): Promise<{ port: number; down: () => void; up: () => void }> {
  const open = new Set<net.Socket>();
  let refusing = false;
  const relay = net.createServer((inbound) => {
    if (refusing) return void inbound.resetAndDestroy();
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    open.add(inbound).add(outbound);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const drop = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const s of open) s.destroy();
    relay.close();
  });
  return {
    port: (relay.address() as net.AddressInfo).port,
    down: () => {
      refusing = true;
      for (const s of open) s.resetAndDestroy();
      open.clear();
    },
    up: () => (refusing = false),
  };
}

test('the server\'s judgement of the link never ends the client\'s run; a kick or a takeover does', () => {
  for (const reason of ['slow_consumer', 'idle_timeout', 'going_away', 'server_full', 'unknown'] as const) assert.equal(isFinalBye(reason), false, reason);
  for (const reason of ['kicked', 'superseded', 'auth_failed', 'id_in_use'] as const) assert.equal(isFinalBye(reason), true, reason);
});

test('a clean run exits 0 with a RECEIPT that counts every frame sent', { timeout: 30_000 }, async (t) => {
  const { port } = await inProcessServer(t, tempDir(t));
  const lines: string[] = [];
  const r = await new CandidateClient({
    host: '127.0.0.1', port, candidateId: 'clean', token: '', clientVersion: 'test', loop: false, audio: null,
    video: { source: tinyVideo(30, 30), width: 64, height: 48 }, print: (l) => lines.push(l),
  }).run();
  assert.equal(r.exitCode, ClientExit.ok, r.reason);
  assert.deepEqual(r.mediaLines, []);
  assert.ok(lines.some((l) => /^RECEIPT session \S+: 30 video frames recorded$/.test(l)), lines.join('\n'));
});

test('an ALERT recording_failed is printed and the client cannot exit 0 (exit 6)', { timeout: 30_000 }, async (t) => {
  const { server, port } = await inProcessServer(t, tempDir(t));
  const lines: string[] = [];
  const r = await new CandidateClient({
    host: '127.0.0.1', port, candidateId: 'alerted', token: '', clientVersion: 'test', loop: false, audio: null,
    video: { source: tinyVideo(20, 20), width: 64, height: 48 },
    print: (l) => {
      lines.push(l);
      // What the server's recorder does when a write fails (the recording itself is fine here).
      if (l.startsWith('WELCOME')) connectionOf(server, 'alerted').alert('recording_failed', 'no space left on device');
    },
  }).run();
  assert.ok(lines.includes('ALERT recording_failed: no space left on device'), lines.join('\n'));
  assert.equal(r.exitCode, ClientExit.recordingFailed, r.reason);
  assert.match(r.mediaLines.join('\n'), /^RECORDING FAILED on the server: no space left on device$/m);
});

test('an outage longer than --buffer, resumed: exit 5 and the summary says which capture seconds are missing', { timeout: 30_000 }, async (t) => {
  const { port } = await inProcessServer(t, tempDir(t));
  const link = await outageLink(t, port);
  const lines: string[] = [];
  const fps = 20;
  let outageFrom = 0;
  let resumedAt = 0;
  const origin = performance.now();
  const client = new CandidateClient({
    host: '127.0.0.1', port: link.port, candidateId: 'gappy', token: '', clientVersion: 'test', loop: false, audio: null,
    video: { source: tinyVideo(6 * fps, fps), width: 64, height: 48 },
    print: (l) => {
      lines.push(l);
      if (l.startsWith('RESUMED')) resumedAt = (performance.now() - origin) / 1000;
    },
    bufferSeconds: 0.5, reconnectForMs: 20_000,
  });
  const run = client.run();
  await waitUntil('the WELCOME line', () => lines.some((l) => l.startsWith('WELCOME')), { timeoutMs: 10_000, everyMs: 20 });
  await sleep(1000);
  // Down for 1.5 s: everything captured more than 0.5 s before the client is back is gone.
  outageFrom = (performance.now() - origin) / 1000;
  link.down();
  await sleep(1500);
  link.up();
  const r = await run;
  assert.ok(lines.some((l) => l.startsWith('RESUMED session')), lines.join('\n'));
  assert.equal(r.exitCode, ClientExit.mediaLost, r.reason);
  assert.ok(r.lost > 0);
  const lost = /^LOST session \S+: video (\d+) frame\(s\) at capture (\d+\.\d)-(\d+\.\d) s$/.exec(r.mediaLines.join('\n'));
  assert.ok(lost, r.mediaLines.join('\n'));
  assert.equal(Number(lost[1]), r.lost, 'the frames the RECEIPT lacks are the ones the client could not keep');
  const [from, to] = [Number(lost[2]), Number(lost[3])];
  // From the last frame recorded before the cut to the oldest frame the buffer still held when the client was back.
  assert.ok(from >= outageFrom - 0.3 && from <= outageFrom + 0.1, `gap from ${from} s, cut at ${outageFrom.toFixed(2)} s`);
  assert.ok(to >= resumedAt - 0.5 - 0.4 && to <= resumedAt - 0.5 + 0.1, `gap to ${to} s, resumed at ${resumedAt.toFixed(2)} s with 0.5 s buffered`);
});

test('the server SIGKILLed and back after the client\'s --buffer ran out: exit 5, the gap named, two sessions', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const first = await startServer(t, dir, ['--detector', 'none']);
  const c = runVigil(t, clientArgs(first.port, 'survivor', video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), ['--buffer', '1', '--reconnect', '30', '--width', '320', '--height', '240']));
  const welcome = await c.waitForLine(/^WELCOME session /);
  const origin = performance.now();
  const oldSession = /^WELCOME session (\S+)/.exec(welcome)![1]!;
  await sleep(2000);
  first.proc.kill('SIGKILL');
  const killedAt = (performance.now() - origin) / 1000;
  await c.waitForLine(/^DISCONNECTED /);
  // Down for 2.5 s, more than twice --buffer.
  await sleep(2500);
  const second = await startServer(t, dir, ['--detector', 'none', '--port', String(first.port)]);
  const backAt = (performance.now() - origin) / 1000;
  assert.equal(second.port, first.port);
  await c.waitForLine(/^WELCOME session \S+ \(a new session: the previous one could not be resumed\)$/);
  const newSessionAt = (performance.now() - origin) / 1000;
  const r = await c.done;
  assert.equal(r.code, 5, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /media lost: the recording does not hold everything captured/);
  const unconfirmed = new RegExp(`^UNCONFIRMED session ${oldSession} \\(capture 0\\.0-(\\d+\\.\\d) s\\): the server never confirmed its recording; never sent: video (\\d+) frame\\(s\\) at capture (\\d+\\.\\d)-(\\d+\\.\\d) s, audio (\\d+) chunk\\(s\\) \\((\\d+\\.\\d+) s\\) at capture`, 'm').exec(r.stdout);
  assert.ok(unconfirmed, r.stdout);
  const [from, to] = [Number(unconfirmed[3]), Number(unconfirmed[4])];
  assert.ok(from >= killedAt - 1.5 && from <= killedAt + 0.5, `gap starts at ${from} s; killed at ${killedAt.toFixed(1)} s`);
  // Everything captured until the client was in its new session: what the outage held was numbered for the old one.
  assert.ok(to >= backAt - 0.5 && to <= newSessionAt + 0.3 && to > from + 1, `gap ends at ${to} s; server back at ${backAt.toFixed(1)} s, new session at ${newSessionAt.toFixed(1)} s`);
  const lostVideo = Number(unconfirmed[2]);
  t.diagnostic(r.stdout.split('\n').filter((l) => /^(UNCONFIRMED|RECEIPT|LOST|sent )/.test(l)).join(' | '));
  assert.match(r.stdout, new RegExp(`, 1 reconnect\\(s\\), \\d+ lost$`, 'm'));

  // The new session's RECEIPT is what its recording holds; the old one was repaired at the restart.
  const receipt = /^RECEIPT session (\S+): (\d+) video frames/m.exec(r.stdout);
  assert.ok(receipt, r.stdout);
  const sessions = readdirSync(path.join(dir, 'survivor')).sort();
  assert.equal(sessions.length, 2);
  assert.ok(sessions.includes(oldSession) && sessions.includes(receipt[1]!));
  const facts = await recordingFacts(path.join(dir, 'survivor', receipt[1]!, 'recording.mkv'));
  assert.equal(facts.video?.packets, Number(receipt[2]));
  assert.equal(readJson<SessionRecord>(path.join(dir, 'survivor', oldSession, 'session.json')).ended, 'server_crashed');
  const oldFacts = await recordingFacts(path.join(dir, 'survivor', oldSession, 'recording.mkv'));
  // Every frame is either in one of the two recordings or named as lost (frames in flight at the kill count as neither).
  assert.ok(Number(receipt[2]) > 0, 'video went on in the new session');
  const accounted = oldFacts.video!.packets + Number(receipt[2]) + lostVideo;
  assert.ok(accounted <= 300 && accounted >= 290, `${oldFacts.video!.packets} recorded before the kill + ${receipt[2]} after + ${lostVideo} lost`);
});
