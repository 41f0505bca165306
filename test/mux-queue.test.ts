import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { VigilServer } from '../src/server';
import type { SessionRecord } from '../src/server/session';
import { probe } from '../src/media/probe';
import { readJson, tempDir } from './helpers';
import { WirePeer, pcmChunk } from './wire-peer';

/** ffmpeg processes this test process has started and that are still running. */
function ffmpegChildren(): number {
  let n = 0;
  for (const task of readdirSync('/proc/self/task')) {
    let children: string;
    try {
      children = readFileSync(`/proc/self/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of children.split(' ').filter(Boolean)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ffmpeg') n++;
      } catch {
        // exited meanwhile
      }
    }
  }
  return n;
}

test('many sessions ending at once: at most two subtitle muxes run at a time, and close() waits for all of them', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const server = new VigilServer({ host: '127.0.0.1', port: 0, recordDir: dir, adminSocket: null, auth: 'none', logger: pino({ level: 'silent' }), version: 'test', resumeWindowMs: 300 });
  const { port } = await server.listen();
  let closed = false;
  t.after(() => (closed ? undefined : server.close()));
  const N = 12;
  const peers = await Promise.all(Array.from({ length: N }, () => WirePeer.connect(port)));
  peers.forEach((p, i) => p.hello(`m${i}`, { video: false }));
  await Promise.all(peers.map((p) => p.waitFor('welcome')));
  for (const p of peers) for (let seq = 0; seq < 25; seq++) p.send({ type: 'audio_chunk', seq, timestampMs: seq * 40, pcm: pcmChunk(40, seq) });
  // Every connection drops at once: each session gets a `disconnected` incident, and when the resume window
  // runs out all of them are finalised together, each with a subtitle track to mux.
  await new Promise((r) => setTimeout(r, 200));
  for (const p of peers) p.destroy();

  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, ffmpegChildren())), 5);
  t.after(() => clearInterval(sampler));
  const deadline = Date.now() + 60_000;
  while (server.muxes.active + server.muxes.queued === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(server.muxes.active > 0, 'the muxes started');
  closed = true;
  await server.close();
  clearInterval(sampler);

  assert.ok(most <= 2, `${most} ffmpeg processes ran at once`);
  assert.ok(most >= 1, 'the sampler saw the muxes run');
  assert.equal(server.muxes.peak, 2, 'the queue was full, so the bound was what held them back');
  for (let i = 0; i < N; i++) {
    const sdir = path.join(dir, `m${i}`, readdirSync(path.join(dir, `m${i}`))[0]!);
    const rec = readJson<SessionRecord>(path.join(sdir, 'session.json'));
    assert.equal(rec.subtitle_track, true, `m${i} has its subtitle track (close() waited for it)`);
    const info = await probe(path.join(sdir, 'recording.mkv'));
    assert.ok(info.streams.some((s) => s.codec_type === 'subtitle'), `m${i}: ffprobe finds the subtitle track`);
  }
});
