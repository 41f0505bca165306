import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpusPcmDecoder } from '../src/media/opus-pcm';
import { OpusWasmDecoder } from '../src/media/opus-wasm';
import { encodeOpus } from './h264-fixtures';
import { audio } from './helpers';

interface Decoded {
  chunks: Array<{ ts: number; samples: number }>;
  pcm: Int16Array;
}

async function decodeWith(make: (onPcm: (ts: number, pcm: Buffer) => void, onError: (e: Error) => void) => OpusWasmDecoder | OpusPcmDecoder, packets: Array<{ data: Buffer; samples: number }>): Promise<Decoded> {
  const chunks: Decoded['chunks'] = [];
  const parts: Buffer[] = [];
  const errors: Error[] = [];
  const d = make(
    (ts, pcm) => {
      chunks.push({ ts, samples: pcm.length / 2 });
      parts.push(pcm);
    },
    (e) => errors.push(e),
  );
  // Capture times 20 ms apart from 1000 ms, as a client stamps its packets.
  packets.forEach((p, i) => (d instanceof OpusWasmDecoder ? d.push(1000 + i * 20, p.data) : d.push(1000 + i * 20, p.data, p.samples)));
  await d.drain();
  assert.deepEqual(errors, []);
  const all = Buffer.concat(parts);
  return { chunks, pcm: new Int16Array(all.buffer, all.byteOffset, all.length / 2) };
}

const rms = (s: Int16Array): number => Math.sqrt(s.reduce((a, v) => a + v * v, 0) / Math.max(1, s.length));

test('the WebAssembly decoder gives voice activity the PCM ffmpeg gave: same length, same level, chunks timed from the first packet', { timeout: 60_000 }, async () => {
  const enc = await encodeOpus(audio('speech-16k-mono.wav'), 4);
  const wasm = await decodeWith((onPcm, onError) => new OpusWasmDecoder(enc.headBytes, onPcm, onError, 16000, 500), enc.packets);
  const ff = await decodeWith((onPcm, onError) => new OpusPcmDecoder(enc.headBytes, onPcm, onError, 16000, true, false), enc.packets);
  // Every packet's samples at 16 kHz, less the encoder's pre-skip (48 kHz samples): as ffmpeg trims it.
  const expected = enc.packets.reduce((a, p) => a + p.samples, 0) / 3 - enc.head.preSkip / 3;
  assert.ok(Math.abs(wasm.pcm.length - expected) <= 16, `${wasm.pcm.length} samples, expected ${expected}`);
  // ffmpeg decodes at 48 kHz and resamples, and its resampler keeps the last 20 ms back.
  assert.ok(wasm.pcm.length >= ff.pcm.length && wasm.pcm.length - ff.pcm.length <= 400, `wasm ${wasm.pcm.length} against ffmpeg ${ff.pcm.length} samples`);
  const [a, b] = [rms(wasm.pcm.subarray(0, ff.pcm.length)), rms(ff.pcm)];
  assert.ok(a > 500 && Math.abs(a - b) / b < 0.01, `level ${a.toFixed(0)} against ffmpeg's ${b.toFixed(0)}`);
  // Half-second chunks, each timed by the samples before it.
  assert.equal(wasm.chunks[0]!.ts, 1000);
  let before = 0;
  for (const c of wasm.chunks) {
    assert.equal(c.ts, 1000 + (before * 1000) / 16000);
    before += c.samples;
  }
  assert.ok(wasm.chunks.slice(0, -1).every((c) => c.samples === 8000), wasm.chunks.map((c) => c.samples).join(' '));
});

test('a closed WebAssembly decoder hands out nothing more and frees itself once', async () => {
  const enc = await encodeOpus(audio('speech-16k-mono.wav'), 1);
  let chunks = 0;
  const d = new OpusWasmDecoder(enc.headBytes, () => chunks++, (e) => assert.fail(e), 16000, 500);
  for (const p of enc.packets) d.push(0, p.data);
  d.close();
  d.close();
  await d.drain();
  d.push(0, enc.packets[0]!.data);
  assert.equal(chunks, 0);
});
