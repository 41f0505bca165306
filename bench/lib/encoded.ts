/**
 * H.264 + Opus + snapshots encoded once by the client's real encoders, saved to a file and replayed by every
 * simulated candidate of bench/ingest --codec h264: a hundred libx264 encoders would not fit beside the server on
 * two cores, and the server's cost does not depend on who encoded the bytes.
 */
import path from 'node:path';
import type { Encoders } from '../../src/client/streams';
import { H264Encoder } from '../../src/media/h264-encoder';
import { OpusEncoder } from '../../src/media/opus-encoder';
import { VideoFileSource } from '../../src/media/video-file';
import { loadFrames, saveFrames } from './media';
import { MEDIA } from './report';

export interface EncodedSample {
  avcC: Buffer;
  frames: Array<{ data: Buffer; keyframe: boolean }>;
  snapshots: Buffer[];
  opusHead: Buffer;
  packets: Array<{ data: Buffer; samples: number }>;
}

export async function encodeSample(pcm: Buffer, snapshotIntervalMs: number): Promise<EncodedSample> {
  const src = await VideoFileSource.open(path.join(MEDIA, 'video', 'candidate-ok.mp4'), { width: 640, height: 480, fps: 15, quality: 80 });
  const enc = new H264Encoder({ input: src.ffmpegInput, width: 640, height: 480, fps: 15, loop: false, snapshotIntervalMs, snapshotWidth: 320, snapshotHeight: 240 });
  const out: EncodedSample = { avcC: Buffer.alloc(0), frames: [], snapshots: [], opusHead: Buffer.alloc(0), packets: [] };
  await Promise.all([
    (async () => {
      for await (const f of enc.frames()) {
        out.avcC = f.avcC;
        out.frames.push({ data: f.data, keyframe: f.keyframe });
      }
    })(),
    (async () => {
      for await (const s of enc.snapshots()) out.snapshots.push(s);
    })(),
  ]);
  enc.close();
  const opus = new OpusEncoder((async function* () { yield pcm; })(), { sampleRate: 16000, channels: 1 });
  for await (const p of opus.packets()) {
    if (p.type === 'head') out.opusHead = p.head;
    else out.packets.push({ data: p.packet, samples: p.samples });
  }
  opus.close();
  return out;
}

/** One file: avcC, OpusHead, then each frame (flag byte + bytes), snapshot and packet (u16 samples + bytes). */
export function saveEncoded(file: string, e: EncodedSample): void {
  const items: Buffer[] = [Buffer.from(JSON.stringify({ frames: e.frames.length, snapshots: e.snapshots.length, packets: e.packets.length })), e.avcC, e.opusHead];
  for (const f of e.frames) items.push(Buffer.concat([Buffer.from([f.keyframe ? 1 : 0]), f.data]));
  items.push(...e.snapshots);
  for (const p of e.packets) {
    const n = Buffer.alloc(2);
    n.writeUInt16BE(p.samples);
    items.push(Buffer.concat([n, p.data]));
  }
  saveFrames(file, items);
}

export function loadEncoded(file: string): EncodedSample {
  const items = loadFrames(file);
  const counts = JSON.parse(items[0]!.toString()) as { frames: number; snapshots: number; packets: number };
  let at = 3;
  const frames = items.slice(at, (at += counts.frames)).map((b) => ({ keyframe: b[0] === 1, data: b.subarray(1) }));
  const snapshots = items.slice(at, (at += counts.snapshots));
  const packets = items.slice(at, at + counts.packets).map((b) => ({ samples: b.readUInt16BE(0), data: b.subarray(2) }));
  return { avcC: items[1]!, opusHead: items[2]!, frames, snapshots, packets };
}

/**
 * Encoders that replay the sample for `seconds` (the clip from its start again when it ends: its first frame is an
 * IDR), and remember when the first and last frame were taken, as MemoryVideo does.
 */
export function replayEncoders(e: EncodedSample, seconds: number): Encoders & { firstAt: number; lastAt: number } {
  const r = {
    firstAt: 0,
    lastAt: 0,
    video: (o: { snapshotIntervalMs: number }) => ({
      async *frames() {
        r.firstAt = performance.now();
        for (let i = 0; i < seconds * 15; i++) yield { ...e.frames[i % e.frames.length]!, avcC: e.avcC };
        r.lastAt = performance.now();
      },
      async *snapshots() {
        const n = o.snapshotIntervalMs > 0 ? Math.floor((seconds * 1000) / o.snapshotIntervalMs) : 0;
        for (let i = 0; i < n; i++) yield e.snapshots[i % e.snapshots.length]!;
      },
      cpuSeconds: 0,
      close: () => undefined,
    }),
    audio: () => ({
      async *packets() {
        yield { type: 'head' as const, head: e.opusHead, channels: 1 };
        for (let i = 0; i < seconds * 50; i++) {
          const p = e.packets[i % e.packets.length]!;
          yield { type: 'packet' as const, packet: p.data, samples: p.samples };
        }
      },
      cpuSeconds: 0,
      close: () => undefined,
    }),
  };
  return r;
}
