import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import type { SessionRecord } from '../src/server';
import { audio, clientArgs, readJson, recordingFacts, runVigil, sleep, startServer, tempDir, video } from './helpers';

/** A TCP relay between client and server whose links the test can cut, as a flaky network would. */
async function flakyLink(t: { after(fn: () => void): void }, targetPort: number): Promise<{ port: number; cut: () => number }> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const drop = (): void => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    // Resets both sides mid-stream: whatever was in flight is lost.
    cut: () => {
      const n = pairs.size;
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
      return n;
    },
  };
}

test('a dropped connection reconnects, resumes the same session within 2 s, and loses no frame', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const link = await flakyLink(t, server.port);
  const c = runVigil(t, clientArgs(link.port, 'wobbly', video('megamind-clip.mp4'), audio('silence-10s.wav')));
  await c.waitForLine(/^WELCOME/);
  await sleep(2500);
  assert.equal(link.cut(), 1);
  const cutAt = performance.now();
  await c.waitForLine(/^RESUMED session /);
  const resumedIn = performance.now() - cutAt;
  assert.ok(resumedIn < 2000, `resumed after ${resumedIn.toFixed(0)} ms`);
  const r = await c.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^DISCONNECTED the server went away .*; reconnecting$/m);
  assert.match(r.stdout, /^RECONNECT attempt 1 in \d\.\d s$/m);
  assert.match(r.stdout, /sent 108 video frames .* 1 reconnect\(s\), 0 lost/);

  // One session, one recording, every frame and every sample.
  const sessions = readdirSync(path.join(dir, 'wobbly'));
  assert.equal(sessions.length, 1, 'the same session continued');
  const sdir = path.join(dir, 'wobbly', sessions[0]!);
  const facts = await recordingFacts(path.join(sdir, 'recording.mkv'));
  assert.equal(facts.video?.packets, 108, 'no frame lost');
  assert.ok(Math.abs(facts.audio!.duration - 10) < 0.05, `audio ${facts.audio!.duration} s`);
  assert.equal(facts.decodeErrors, '');
  const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
  assert.equal(rec.ended, 'client_bye');
  assert.equal(rec.frames_written, 108);

  // The gap is on the timeline as a `disconnected` incident, about where the link was cut.
  const closed = readFileSync(path.join(sdir, 'incidents.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; kind: string; start_s: number; end_s: number })
    .filter((e) => e.event === 'close' && e.kind === 'disconnected');
  assert.equal(closed.length, 1);
  const gap = closed[0]!;
  assert.ok(gap.start_s > 2 && gap.start_s < 4, `gap starts at ${gap.start_s}`);
  assert.ok(gap.end_s - gap.start_s < 2, `gap lasts ${gap.end_s - gap.start_s} s`);
  assert.ok(server.logs.some((l) => l.msg === 'candidate resumed'));
});

test('a client whose server is gone for good gives up after --reconnect seconds', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir);
  const c = runVigil(t, clientArgs(server.port, 'quitter', video('candidate-ok.mp4'), null, ['--loop', '--reconnect', '2']));
  await c.waitForLine(/^WELCOME/);
  await sleep(500);
  server.proc.kill('SIGKILL');
  const r = await c.done;
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^RECONNECT attempt 1 /m);
  assert.match(r.stderr, /gave up reconnecting after 2 s/);
});
