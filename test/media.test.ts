import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { fixedSize, vintSize, voidElement } from '../src/media/ebml';
import { JpegSplitter, JpegSplitError } from '../src/media/jpeg-splitter';
import { MkvWriter } from '../src/media/mkv-writer';
import { VideoFileSource, qscaleFor } from '../src/media/video-file';
import { WavFileSource } from '../src/media/wav-file';
import { audio, execText, recordingFacts, tempDir, video } from './helpers';

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of source) out.push(b);
  return out;
}

async function split(chunks: Buffer[]): Promise<Buffer[]> {
  return collect(Readable.from(chunks, { objectMode: false }).pipe(new JpegSplitter()));
}

describe('EBML encoding', () => {
  test('sizes use the shortest width and reserve all-ones for "unknown"', () => {
    assert.equal(vintSize(0).toString('hex'), '80');
    assert.equal(vintSize(126).toString('hex'), 'fe');
    assert.equal(vintSize(127).toString('hex'), '407f'); // 0xff would mean unknown
    assert.equal(vintSize(16382).toString('hex'), '7ffe');
    assert.equal(fixedSize(5, 8).toString('hex'), '0100000000000005');
    assert.equal(voidElement(11).length, 11);
    assert.equal(voidElement(200).length, 200);
  });
});

describe('JPEG splitter', () => {
  test('splits ffmpeg Motion-JPEG into exactly the frames the file has, each a whole JPEG', async () => {
    const src = await VideoFileSource.open(video('megamind-clip.mp4'), { width: 320, height: 240, quality: 60 });
    const frames = await collect(src.frames());
    assert.equal(frames.length, 108);
    for (const f of frames) {
      assert.equal(f.readUInt16BE(0), 0xffd8);
      assert.equal(f.readUInt16BE(f.length - 2), 0xffd9);
    }
    // The same byte stream cut at awkward places yields the same frames.
    const stream = Buffer.concat(frames);
    const cuts: Buffer[] = [];
    for (let at = 0, step = 1; at < stream.length; at += step, step = (step * 7 + 3) % 5000 + 1) cuts.push(stream.subarray(at, at + step));
    const again = await split(cuts);
    assert.equal(again.length, frames.length);
    assert.ok(again.every((f, i) => f.equals(frames[i]!)));
  });

  test('a JPEG with an embedded thumbnail (a second EOI inside APP1) stays one image', async () => {
    const inner = Buffer.from('ffd8ffd9', 'hex');
    const app1 = Buffer.concat([Buffer.from('ffe1', 'hex'), Buffer.from([0, inner.length + 2]), inner]);
    const jpeg = Buffer.concat([Buffer.from('ffd8', 'hex'), app1, Buffer.from('ffda000401ff00ff00d9', 'hex').subarray(0, 6), Buffer.from('12ff0034ffd9', 'hex')]);
    const out = await split([jpeg, jpeg]);
    assert.equal(out.length, 2);
    assert.ok(out[0]!.equals(jpeg));
  });

  test('a stream that is not JPEG is an error with a stable code', async () => {
    await assert.rejects(split([Buffer.from('hello world')]), (e: unknown) => e instanceof JpegSplitError && e.code === 'VIGIL_ERR_JPEG_STREAM');
  });

  test('quality maps 1..100 onto ffmpeg qscale 31..2', () => {
    assert.equal(qscaleFor(1), 31);
    assert.equal(qscaleFor(100), 2);
    assert.ok(qscaleFor(80) < qscaleFor(50));
  });
});

describe('WAV source', () => {
  test('reads 44.1 kHz stereo and cuts it into 40 ms chunks that add up to the file', async () => {
    const w = await WavFileSource.open(audio('speech-44k-stereo.wav'));
    assert.deepEqual(w.format, { sampleRate: 44100, channels: 2 });
    const chunks = await collect(w.chunks(40));
    assert.ok(chunks.slice(0, -1).every((c) => c.length === 1764 * 4));
    const samples = chunks.reduce((n, c) => n + c.length / 4, 0);
    assert.ok(Math.abs(samples / 44100 - 18.862) < 0.001);
  });
});

describe('Matroska writer', () => {
  // Decoded once for both tests: 60 JPEGs of the sample clip at 320x240.
  let clip: Promise<Buffer[]> | null = null;
  const clipFrames = async (n: number): Promise<Buffer[]> => {
    clip ??= VideoFileSource.open(video('megamind-clip.mp4'), { width: 320, height: 240, quality: 70 }).then((src) => collect(src.frames()));
    return (await clip).slice(0, n);
  };

  async function writeSample(file: string, frames: Buffer[]): Promise<void> {
    const w = await MkvWriter.create(file, {
      video: { width: 320, height: 240 },
      audio: { sampleRate: 16000, channels: 1 },
      title: 'test',
      startedAt: new Date(),
      writingApp: 'vigil test',
    });
    const pcm = readFileSync(audio('speech-16k-mono.wav')).subarray(44);
    for (let i = 0; i < frames.length; i++) {
      // 15 fps video with a little capture jitter; 40 ms audio chunks interleaved by time.
      w.writeVideo(i * 66.667 + (i % 3), frames[i]!, 66.667);
    }
    for (let t = 0; t < Math.floor((frames.length * 1000) / 15 / 40); t++) w.writeAudio(t * 40, pcm.subarray(t * 1280, (t + 1) * 1280));
    await w.finalize();
  }

  test('keeps every JPEG byte-exact at its capture time, and audio sample-exact', async (t) => {
    const dir = tempDir(t);
    const frames = await clipFrames(45);
    const file = path.join(dir, 'a.mkv');
    await writeSample(file, frames);
    const facts = await recordingFacts(file);
    assert.equal(facts.decodeErrors, '');
    assert.equal(facts.video?.packets, 45);
    assert.equal(facts.audio?.packets, 75);
    assert.ok(Math.abs(facts.audio!.duration - 3.0) < 0.001);
    // Extract the frames again without re-encoding: they match what was written.
    const out = await execText('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time,size', '-of', 'csv=p=0', file]);
    const rows = out.trim().split('\n').map((l) => l.split(',').map(Number));
    rows.forEach(([pts, size], i) => {
      assert.equal(size, frames[i]!.length);
      assert.ok(Math.abs(pts! - Math.round(i * 66.667 + (i % 3)) / 1000) < 0.0011, `frame ${i} at ${pts}`);
    });
    const fmt = await execText('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
    assert.ok(Math.abs(Number(fmt) - 3.0) < 0.05, `duration ${fmt}`);
  });

  test('a file cut off at any point is readable up to its last whole block', async (t) => {
    const dir = tempDir(t);
    const frames = await clipFrames(60);
    const full = path.join(dir, 'full.mkv');
    await writeSample(full, frames);
    const bytes = readFileSync(full);
    for (const fraction of [0.13, 0.37, 0.5, 0.71, 0.93]) {
      const cut = Math.floor(bytes.length * fraction);
      const file = path.join(dir, `cut-${fraction}.mkv`);
      writeFileSync(file, bytes.subarray(0, cut));
      const facts = await recordingFacts(file);
      assert.ok(facts.video && facts.audio, `both tracks found at ${fraction}`);
      // Each frame is ~1/60 of the file: what remains readable is within about a frame and a cluster of the cut.
      const expectedS = (fraction * frames.length) / 15;
      assert.ok(facts.video.end > expectedS - 1.2, `cut at ${fraction}: video readable to ${facts.video.end} s, expected ~${expectedS.toFixed(2)} s`);
    }
  });
});
