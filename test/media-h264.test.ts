import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { AnnexBSplitter, H264Error, parseAvcConfig, splitLengthPrefixed } from '../src/media/h264';
import { MkvWriter } from '../src/media/mkv-writer';
import { OpusError, opusPacketSamples, parseOpusHead } from '../src/media/ogg-opus';
import { encodeH264, encodeOpus, type EncodedOpus, type EncodedVideo } from './h264-fixtures';
import { audio, execText, tempDir, video } from './helpers';

/** Concatenated packet bytes of one stream, copied out without touching them. */
async function streamBytes(file: string, stream: 'v' | 'a'): Promise<Buffer> {
  const out = path.join(path.dirname(file), `${path.basename(file)}.${stream}.bin`);
  await execText('ffmpeg', ['-v', 'error', '-y', '-i', file, '-map', `0:${stream}`, '-c', 'copy', '-f', 'data', out]);
  return readFileSync(out);
}

async function packetSizes(file: string, stream: 'v' | 'a'): Promise<Array<{ size: number; key: boolean }>> {
  const out = await execText('ffprobe', ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=size,flags', '-of', 'csv=p=0', file]);
  return out.trim().split('\n').filter(Boolean).map((l) => ({ size: Number(l.split(',')[0]), key: l.split(',')[1]!.startsWith('K') }));
}

async function codecs(file: string): Promise<string> {
  return (await execText('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file])).trim().replace(/\n/g, ',');
}

/** ffmpeg -xerror decodes everything: any damaged packet fails it. */
async function decodeErrors(file: string): Promise<string> {
  return (await execText('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-'], true)).trim();
}

async function writeRecording(file: string, v: EncodedVideo, a: EncodedOpus, finalize = true): Promise<MkvWriter> {
  const w = await MkvWriter.create(file, { video: { codec: 'h264', width: 640, height: 480 }, audio: { codec: 'opus', sampleRate: 48000, channels: 1 }, title: 't', startedAt: new Date(), writingApp: 'vigil-test' });
  w.setCodecPrivate('video', v.avcC);
  w.setCodecPrivate('audio', a.headBytes, Math.round((a.head.preSkip / 48000) * 1e9));
  // Interleaved by time as a session receives them.
  let ai = 0;
  let aMs = 0;
  v.frames.forEach((f, i) => {
    const ts = (i * 1000) / 15;
    while (ai < a.packets.length && aMs <= ts) {
      w.writeOpus(aMs, a.packets[ai]!.data, a.packets[ai]!.samples);
      aMs += a.packets[ai++]!.samples / 48;
    }
    w.writeVideo(ts, f.data, 1000 / 15, f.keyframe);
  });
  for (; ai < a.packets.length; ai++) {
    w.writeOpus(aMs, a.packets[ai]!.data, a.packets[ai]!.samples);
    aMs += a.packets[ai]!.samples / 48;
  }
  if (finalize) await w.finalize();
  else await w.flushed();
  return w;
}

describe('H.264 and Opus bitstreams', () => {
  test('Annex B splits into access units with IDR flags, whatever the chunking', async () => {
    const v = await encodeH264(video('candidate-incidents.mp4'), 4);
    assert.equal(v.units.length, 60);
    assert.deepEqual(v.units.map((u, i) => (u.keyframe ? i : -1)).filter((i) => i >= 0), [0, 30]);
    const cfg = parseAvcConfig(v.avcC);
    assert.equal(cfg.sps.length, 1);
    assert.equal(cfg.pps.length, 1);
    // The same stream re-split from 1..97-byte chunks gives the same units.
    const annexB = Buffer.concat(v.units.flatMap((u) => u.nals.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n])));
    const s = new AnnexBSplitter();
    const again = [];
    for (let at = 0, step = 1; at < annexB.length; at += step, step = (step * 13) % 97 + 1) again.push(...s.push(annexB.subarray(at, at + step)));
    again.push(...s.end());
    assert.equal(again.length, 60);
    again.forEach((u, i) => assert.ok(Buffer.concat(u.nals).equals(Buffer.concat(v.units[i]!.nals)), `unit ${i}`));
    assert.deepEqual(splitLengthPrefixed(v.frames[1]!.data).length, v.units[1]!.nals.length - 1); // less the AUD
  });

  test('malformed avcC records and length-prefixed units are refused', () => {
    assert.throws(() => parseAvcConfig(Buffer.from([1, 66, 0, 30, 0xff, 0xe1, 0, 40, 0x67])), H264Error);
    assert.throws(() => parseAvcConfig(Buffer.from([0, 66, 0, 30, 0xff, 0xe0, 0])), /configurationVersion/);
    assert.throws(() => parseAvcConfig(Buffer.from([1, 66, 0, 30, 0xff, 0xe0, 0])), /at least one of each/);
    assert.throws(() => splitLengthPrefixed(Buffer.from([0, 0, 0, 9, 0x65, 1])), /runs past the end/);
  });

  test('Ogg Opus yields OpusHead and packets whose TOC durations add up to the input', async () => {
    const a = await encodeOpus(audio('speech-16k-mono.wav'), 3);
    assert.equal(a.head.channels, 1);
    assert.equal(a.head.inputSampleRate, 16000);
    assert.ok(a.packets.every((p) => p.samples === 960), 'every packet is 20 ms');
    const seconds = a.packets.reduce((n, p) => n + p.samples, 0) / 48000;
    assert.ok(Math.abs(seconds - 3) < 0.03, `${seconds} s`);
    assert.equal(opusPacketSamples(Buffer.from([0x03, 0x03])), 3 * 480); // SILK 10 ms, code 3, 3 frames
    assert.throws(() => opusPacketSamples(Buffer.from([0xfb, 0x3f])), OpusError); // 63 x 20 ms
    assert.throws(() => parseOpusHead(Buffer.from('OpusHeaX')), /magic/);
  });
});

describe('Matroska with H.264 and Opus', () => {
  test('keeps every access unit and packet byte-exact, keyframes flagged, and decodes without an error', async (t) => {
    const dir = tempDir(t);
    const v = await encodeH264(video('candidate-incidents.mp4'), 6);
    const a = await encodeOpus(audio('speech-16k-mono.wav'), 6);
    const file = path.join(dir, 'r.mkv');
    await writeRecording(file, v, a);
    assert.equal(await codecs(file), 'h264,opus');
    assert.equal(await decodeErrors(file), '');
    const vp = await packetSizes(file, 'v');
    assert.equal(vp.length, v.frames.length);
    vp.forEach((p, i) => {
      assert.equal(p.size, v.frames[i]!.data.length, `frame ${i} size`);
      assert.equal(p.key, v.frames[i]!.keyframe, `frame ${i} key flag`);
    });
    assert.equal((await packetSizes(file, 'a')).length, a.packets.length);
    assert.ok((await streamBytes(file, 'v')).equals(Buffer.concat(v.frames.map((f) => f.data))), 'video bytes as written');
    assert.ok((await streamBytes(file, 'a')).equals(Buffer.concat(a.packets.map((p) => p.data))), 'audio bytes as written');
    // Every cue points at a keyframe: seeking to 2.5 s starts decoding cleanly at the IDR at 2 s.
    const seek = await execText('ffmpeg', ['-v', 'error', '-xerror', '-ss', '2.5', '-i', file, '-f', 'null', '-'], true);
    assert.equal(seek.trim(), '');
    const info = await execText('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels:stream_tags', '-of', 'json', file]);
    assert.match(info, /"sample_rate": "48000"/);
  });

  test('a live recording cut at any of five points decodes cleanly up to its last complete cluster', async (t) => {
    const dir = tempDir(t);
    const v = await encodeH264(video('candidate-incidents.mp4'), 8);
    const a = await encodeOpus(audio('speech-16k-mono.wav'), 8);
    const live = path.join(dir, 'live.mkv');
    const w = await writeRecording(live, v, a, false);
    const bytes = readFileSync(live);
    for (const fraction of [0.11, 0.33, 0.52, 0.74, 0.96]) {
      const cut = Math.floor(bytes.length * fraction);
      const file = path.join(dir, `cut-${fraction}.mkv`);
      writeFileSync(file, bytes.subarray(0, cut));
      assert.equal(await codecs(file), 'h264,opus');
      // Only the block the cut tore can be missing; it is dropped, so the rest decodes without an error.
      const sizes = await packetSizes(file, 'v');
      const expected = v.frames.findIndex((_, i) => Buffer.concat(v.frames.slice(0, i + 1).map((f) => f.data)).length > fraction * bytes.length * 0.97);
      assert.ok(sizes.length >= Math.min(expected, v.frames.length) - 16, `cut at ${fraction}: ${sizes.length} frames readable`);
      // The demuxer says the file ended early (it did); nothing may fail to decode.
      const errors = (await decodeErrors(file)).split('\n').filter((l) => l && !l.includes('File ended prematurely'));
      assert.deepEqual(errors, [], `cut at ${fraction}`);
    }
    await w.finalize();
  });
});
