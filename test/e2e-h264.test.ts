import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { HelloMessage, Message } from '../src/protocol';
import { RECORDING_FILE, SESSION_FILE } from '../src/server/session';
import { annexB, encodeH264, encodeOpus, pictureHashes, type EncodedOpus, type EncodedVideo } from './h264-fixtures';
import { audio, execText, readJson, sessionDirOf, tempDir, video, waitUntil } from './helpers';
import { TINY_JPEG, WirePeer, connectionOf, inProcessServer, pcmChunk } from './wire-peer';

function helloV2(id: string): HelloMessage {
  return { type: 'hello', version: 2, candidateId: id, token: '', clientVersion: 'wire-peer-v2', video: { codec: 'h264', width: 640, height: 480, fps: 15 }, audio: { codec: 'opus', sampleRate: 48000, channels: 1 }, accepts: ['receipt', 'alert'] };
}

/** The media of a version-2 client in the order it sends it: configurations, then frames and packets by time. */
function v2Messages(v: EncodedVideo, a: EncodedOpus, fromFrame = 0): Message[] {
  const out: Message[] = [
    { type: 'codec_config', track: 'video', data: v.avcC },
    { type: 'codec_config', track: 'audio', data: a.headBytes },
  ];
  let ai = 0;
  let aMs = 0;
  v.frames.forEach((f, i) => {
    const ts = (i * 1000) / 15;
    while (ai < a.packets.length && aMs <= ts) {
      out.push({ type: 'opus_packet', seq: ai, timestampMs: aMs, samples: a.packets[ai]!.samples, data: a.packets[ai]!.data });
      aMs += a.packets[ai++]!.samples / 48;
    }
    if (i >= fromFrame) out.push({ type: 'h264_frame', seq: i, timestampMs: ts, keyframe: f.keyframe, data: f.data });
  });
  for (; ai < a.packets.length; ai++) {
    out.push({ type: 'opus_packet', seq: ai, timestampMs: aMs, samples: a.packets[ai]!.samples, data: a.packets[ai]!.data });
    aMs += a.packets[ai]!.samples / 48;
  }
  return out;
}

async function packets(file: string, stream: 'v' | 'a'): Promise<number[]> {
  const out = await execText('ffprobe', ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=size', '-of', 'csv=p=0', file]);
  return out.trim().split('\n').filter(Boolean).map(Number);
}

async function streamBytes(file: string, stream: 'v' | 'a'): Promise<Buffer> {
  const out = `${file}.${stream}.bin`;
  await execText('ffmpeg', ['-v', 'error', '-y', '-i', file, '-map', `0:${stream}`, '-c', 'copy', '-f', 'data', out]);
  return readFileSync(out);
}

async function decodeErrors(file: string): Promise<string> {
  return (await execText('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-'], true)).trim();
}

/** The recording once the session has ended and its incident subtitle track (speech opens incidents) is muxed in. */
async function recordingOf(dir: string, id: string): Promise<string> {
  const rec = (): { ended: string; incidents: number; subtitle_track: boolean; subtitle_error: string | null } => readJson(path.join(sessionDirOf(dir, id), SESSION_FILE));
  await waitUntil(`${id}'s recording finalised`, () => {
    const r = rec();
    return r.ended !== 'in_progress' && (r.incidents === 0 || r.subtitle_track || r.subtitle_error !== null);
  }, { seen: rec });
  return path.join(sessionDirOf(dir, id), RECORDING_FILE);
}

describe('H.264 + Opus candidates (protocol version 2)', () => {
  test('three version-2 clients and one version-1 client on one server: every frame and packet recorded byte-exact', async (t) => {
    const dir = tempDir(t);
    const { port } = await inProcessServer(t, dir);
    const v = await encodeH264(video('candidate-incidents.mp4'), 6);
    const a = await encodeOpus(audio('speech-16k-mono.wav'), 6);
    const peers = await Promise.all(['h1', 'h2', 'h3', 'j1'].map(() => WirePeer.connect(port)));
    const [h1, h2, h3, j1] = peers as [WirePeer, WirePeer, WirePeer, WirePeer];
    for (const [i, p] of [h1, h2, h3].entries()) p.send(helloV2(`h${i + 1}`));
    j1.hello('j1', { accepts: ['receipt'] });
    const welcomes = await Promise.all(peers.map((p) => p.waitFor('welcome')));
    assert.equal(welcomes[0]!.snapshotIntervalMs, 1000, 'no detector here: a snapshot a second, for the preview');
    assert.equal(welcomes[3]!.snapshotIntervalMs, undefined, 'a version-1 WELCOME has no snapshot field');
    for (const p of [h1, h2, h3]) for (const m of v2Messages(v, a)) p.send(m);
    for (let i = 0; i < 30; i++) {
      j1.send({ type: 'video_frame', seq: i, timestampMs: i * 100, jpeg: TINY_JPEG });
      j1.send({ type: 'audio_chunk', seq: i, timestampMs: i * 100, pcm: pcmChunk(100, i) });
    }
    for (const p of peers) p.send({ type: 'bye', reason: 'normal', code: 1000, text: '' });
    const receipts = await Promise.all(peers.map((p) => p.waitFor('receipt')));
    for (const r of receipts.slice(0, 3)) {
      assert.equal(r.video.messages, v.frames.length);
      assert.equal(r.audio.messages, a.packets.length);
    }
    for (const id of ['h1', 'h2', 'h3']) {
      const file = await recordingOf(dir, id);
      // (A subtitle track follows when the speech opened incidents.)
      assert.match((await execText('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file])).trim(), /^h264\nopus(\nsubrip)?$/);
      assert.deepEqual(await packets(file, 'v'), v.frames.map((f) => f.data.length));
      assert.deepEqual(await packets(file, 'a'), a.packets.map((p) => p.data.length));
      assert.ok((await streamBytes(file, 'v')).equals(Buffer.concat(v.frames.map((f) => f.data))), `${id}: video bytes as sent`);
      assert.ok((await streamBytes(file, 'a')).equals(Buffer.concat(a.packets.map((p) => p.data))), `${id}: audio bytes as sent`);
      assert.equal(await decodeErrors(file), '');
      const rec = readJson<{ video: { codec: string }; audio: { codec: string }; audio_seconds: number }>(path.join(sessionDirOf(dir, id), SESSION_FILE));
      assert.equal(rec.video.codec, 'h264');
      assert.equal(rec.audio.codec, 'opus');
      const sent = a.packets.reduce((n, p) => n + p.samples, 0) / 48000;
      assert.ok(Math.abs(rec.audio_seconds - sent) / sent < 0.01, `audio ${rec.audio_seconds} s vs ${sent} s sent`);
      // A/V start offset: both tracks begin at the session's 0 (Opus pre-skip is in CodecDelay, not the timestamps).
      const starts = await execText('ffprobe', ['-v', 'error', '-show_entries', 'stream=start_time', '-of', 'csv=p=0', file]);
      const [sv, sa] = starts.trim().split('\n').map(Number);
      assert.ok(Math.abs(sv! - sa!) <= 0.1, `start offset ${sv} vs ${sa}`);
    }
    const jfile = await recordingOf(dir, 'j1');
    assert.equal((await packets(jfile, 'v')).length, 30);
    assert.equal((await execText('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', jfile])).trim(), 'mjpeg\npcm_s16le');
  });

  test('a resume mid-GOP restarts at a keyframe and leaves no undecodable frame', async (t) => {
    const dir = tempDir(t);
    const { port, server } = await inProcessServer(t, dir, { resumeWindowMs: 30_000 });
    const v = await encodeH264(video('candidate-incidents.mp4'), 6);
    const a = await encodeOpus(audio('speech-16k-mono.wav'), 6);
    const all = v2Messages(v, a);
    const first = await WirePeer.connect(port);
    first.send(helloV2('r1'));
    await first.waitFor('welcome');
    // Up to frame 40 (mid second GOP), then the link dies; frames 41-44 never arrive.
    const cut = all.findIndex((m) => m.type === 'h264_frame' && m.seq === 40);
    for (const m of all.slice(0, cut + 1)) first.send(m);
    await waitUntil('frames up to 40 recorded', () => connectionOf(server, 'r1').session?.lastVideoSeq === 40, { timeoutMs: 10_000 });
    first.destroy();
    // Logged in again only once the server has seen the link die: before, r1 would still be connected (id_in_use).
    await waitUntil('the server has kept r1 for a resume', () => !(server['byId'] as Map<string, unknown>).has('r1'), { timeoutMs: 10_000 });
    const third = await WirePeer.connect(port);
    third.send(helloV2('r1'));
    const w = await third.waitFor('welcome');
    assert.equal(w.resumed, true);
    assert.equal(w.lastVideoSeq, 40);
    // This client's buffer lost frames 41-59 (it kept only newer ones): it resends from its oldest keyframe, 60.
    const resend = all.filter((m) => m.type === 'codec_config' || (m.type === 'h264_frame' && m.seq >= 60) || (m.type === 'opus_packet' && m.seq > w.lastAudioSeq));
    for (const m of resend) third.send(m);
    third.send({ type: 'bye', reason: 'normal', code: 1000, text: '' });
    await third.waitFor('receipt');
    const file = await recordingOf(dir, 'r1');
    assert.equal(await decodeErrors(file), '');
    // ffmpeg conceals a missing reference silently (-xerror passes), so compare pictures: every recorded frame
    // decodes to exactly what the uninterrupted stream shows at that frame.
    writeFileSync(path.join(dir, 'ref.h264'), annexB(v.units));
    const ref = await pictureHashes(path.join(dir, 'ref.h264'), 'h264');
    assert.equal(ref.length, v.frames.length);
    const got = await pictureHashes(file);
    const expected = [...ref.slice(0, 41), ...ref.slice(60)];
    assert.equal(got.length, expected.length);
    got.forEach((h, i) => assert.equal(h, expected[i], `recorded picture ${i} differs from the source`));
  });

  test('bad version-2 input is refused with a clear BYE, and the candidate next door notices nothing', async (t) => {
    const dir = tempDir(t);
    const { port } = await inProcessServer(t, dir);
    const v = await encodeH264(video('candidate-incidents.mp4'), 2);
    const a = await encodeOpus(audio('speech-16k-mono.wav'), 2);
    const good = await WirePeer.connect(port);
    good.send(helloV2('good'));
    await good.waitFor('welcome');
    const msgs = v2Messages(v, a);
    const half = Math.floor(msgs.length / 2);
    for (const m of msgs.slice(0, half)) good.send(m);

    const cases: Array<{ id: string; send: Message[] | Buffer; reason: string; text: RegExp }> = [
      { id: 'nokey', send: msgs.filter((m) => m.type === 'codec_config' || (m.type === 'h264_frame' && m.seq === 3)), reason: 'keyframe_required', text: /must be a keyframe/ },
      { id: 'noconfig', send: msgs.filter((m) => m.type === 'h264_frame' && m.seq === 0), reason: 'bad_codec_config', text: /before any CODEC_CONFIG/ },
      { id: 'badavcc', send: [{ type: 'codec_config', track: 'video', data: Buffer.from('0164001fff', 'hex') }], reason: 'bad_codec_config', text: /malformed avcC/ },
      { id: 'badhead', send: [{ type: 'codec_config', track: 'audio', data: Buffer.from('OpusHeaX0000000000000000000', 'latin1') }], reason: 'bad_codec_config', text: /OpusHead/ },
      { id: 'bigopus', send: Buffer.concat([Buffer.from('560e', 'hex'), Buffer.from([0, 0, 0x10, 0])]), reason: 'message_too_large', text: /OPUS_PACKET declares 4096 bytes/ },
    ];
    for (const c of cases) {
      const p = await WirePeer.connect(port);
      p.send(helloV2(c.id));
      await p.waitFor('welcome');
      if (Buffer.isBuffer(c.send)) p.send(c.send);
      else for (const m of c.send) p.send(m);
      const bye = await p.bye();
      assert.equal(bye.reason, c.reason, `${c.id}: ${bye.text}`);
      assert.match(bye.text, c.text, c.id);
    }
    // A version-1 client may not send version-2 kinds.
    const old = await WirePeer.connect(port);
    old.hello('old');
    await old.waitFor('welcome');
    old.send({ type: 'codec_config', track: 'video', data: v.avcC });
    assert.match((await old.bye()).text, /protocol version 2 message/);

    for (const m of msgs.slice(half)) good.send(m);
    good.send({ type: 'bye', reason: 'normal', code: 1000, text: '' });
    const r = await good.waitFor('receipt');
    assert.equal(r.video.messages, v.frames.length);
    assert.equal(r.audio.messages, a.packets.length);
    assert.equal((await good.bye()).reason, 'normal');
    assert.equal(await decodeErrors(await recordingOf(dir, 'good')), '');
  });
});
