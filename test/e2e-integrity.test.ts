import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { Decoder } from '../src/protocol';
import { audio, clientArgs, readJson, runVigil, sessionDirOf, sleep, startServer, tempDir, video } from './helpers';

/** Runs a command and returns its stdout as bytes. */
function execBytes(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

/** The payload of every packet of one track, in order, exactly as stored (no decoding). */
const trackBytes = (file: string, map: '0:v' | '0:a', format: 'image2pipe' | 's16le'): Promise<Buffer> =>
  execBytes('ffmpeg', ['-v', 'error', '-i', file, '-map', map, '-c', 'copy', '-f', format, '-']);

/**
 * A TCP proxy between the client and the server that records what the client sends, message by message, and
 * can cut every connection at once (a dropped Wi-Fi, as the client and the server see it).
 */
class TappingProxy {
  readonly video = new Map<number, Buffer>();
  readonly audio = new Map<number, Buffer>();
  /** Messages seen again after a resume whose bytes differ from the first sending: must stay empty. */
  readonly mismatches: string[] = [];
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();

  constructor(upstreamPort: number) {
    this.server = net.createServer((down) => {
      const up = net.connect({ host: '127.0.0.1', port: upstreamPort });
      const pair: [net.Socket, net.Socket] = [down, up];
      this.pairs.add(pair);
      const decoder = new Decoder();
      down.on('data', (d: Buffer) => {
        for (const m of decoder.push(d).messages) {
          if (m.type === 'video_frame') this.keep(this.video, m.seq, m.jpeg, 'video');
          if (m.type === 'audio_chunk') this.keep(this.audio, m.seq, m.pcm, 'audio');
        }
      });
      down.pipe(up);
      up.pipe(down);
      const end = (): void => {
        this.pairs.delete(pair);
        down.destroy();
        up.destroy();
      };
      down.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
  }

  private keep(map: Map<number, Buffer>, seq: number, bytes: Buffer, what: string): void {
    const seen = map.get(seq);
    if (seen && !seen.equals(bytes)) this.mismatches.push(`${what} ${seq}`);
    if (!seen) map.set(seq, Buffer.from(bytes));
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)));
  }

  /** Resets every connection through the proxy, both sides, mid-stream. */
  cut(): void {
    for (const [down, up] of this.pairs) {
      down.resetAndDestroy();
      up.resetAndDestroy();
    }
  }

  close(): void {
    this.cut();
    this.server.close();
  }
}

const inOrder = (m: Map<number, Buffer>): Buffer[] => [...m.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);

test('the recording holds every JPEG and every PCM sample exactly as the client sent them, once and in order, across a resume', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--detector', 'none']);
  const proxy = new TappingProxy(server.port);
  t.after(() => proxy.close());
  const port = await proxy.listen();
  const wav = audio('speech-silence-speech.wav');
  const client = runVigil(t, clientArgs(port, 'exact', video('megamind-clip.mp4'), wav, ['--width', '320', '--height', '240']));
  await client.waitForLine(/^WELCOME/);
  for (const t0 = performance.now(); proxy.video.size < 40; await sleep(20)) assert.ok(performance.now() - t0 < 20_000, 'frames reach the proxy');
  proxy.cut();
  await client.waitForLine(/^RESUMED session/, 20_000);
  const res = await client.done;
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^DISCONNECTED /m);
  await server.waitForLog((l) => l.msg === 'candidate resumed');
  assert.equal((await server.stop('SIGTERM')).code, 0);

  // What the client sent, each sequence number once (a resend after the cut must repeat the same bytes).
  assert.deepEqual(proxy.mismatches, []);
  const sentSeqs = [...proxy.video.keys()].sort((a, b) => a - b);
  assert.deepEqual(sentSeqs, sentSeqs.map((_, i) => i), 'video sequence numbers 0..n-1, none missing');
  assert.equal(proxy.video.size, Number(/sent (\d+) video frames/.exec(res.stdout)?.[1]));
  assert.equal(proxy.video.size, 108);

  const rec = path.join(sessionDirOf(dir, 'exact'), 'recording.mkv');
  const jpegs = await trackBytes(rec, '0:v', 'image2pipe');
  const sentJpegs = Buffer.concat(inOrder(proxy.video));
  assert.equal(jpegs.length, sentJpegs.length, 'video bytes: as many as sent');
  assert.ok(jpegs.equals(sentJpegs), 'every JPEG byte for byte, in order, each once');

  const pcm = await trackBytes(rec, '0:a', 's16le');
  const sentPcm = Buffer.concat(inOrder(proxy.audio));
  assert.equal(pcm.length, sentPcm.length, 'audio bytes: as many as sent');
  assert.ok(pcm.equals(sentPcm), 'every PCM sample as sent, in order, each once');
  // And what was sent is the WAV's own samples (16 kHz mono: no conversion on the way).
  const wavPcm = await execBytes('ffmpeg', ['-v', 'error', '-i', wav, '-f', 's16le', '-c:a', 'pcm_s16le', '-']);
  assert.ok(pcm.equals(wavPcm), `the recording's audio is the WAV's samples (${pcm.length} vs ${wavPcm.length} bytes)`);
});

interface Packet {
  stream: number;
  /** Where ffprobe says the packet starts: the SimpleBlock's own header, after its element ID and size. */
  pos: number;
  size: number;
}

/**
 * Where a packet's SimpleBlock ends in the file, from the layout mkv-writer.ts writes: after the element ID
 * 0xA3 and its size, 4 bytes (track number vint, 16-bit relative time, flags 0x80), then the payload.
 * Checked against the bytes, not assumed.
 */
function blockEnd(bytes: Buffer, p: Packet): number {
  assert.equal(bytes[p.pos], 0x80 | (p.stream + 1), `track ${p.stream + 1}'s block header at ${p.pos}`);
  assert.equal(bytes[p.pos + 3], 0x80, `a keyframe flag at ${p.pos + 3}`);
  if (p.stream === 0) assert.equal(bytes.readUInt16BE(p.pos + 4), 0xffd8, `a JPEG at ${p.pos + 4}`);
  return p.pos + 4 + p.size;
}

async function packets(file: string): Promise<Packet[]> {
  const out = (await execBytes('ffprobe', ['-v', 'error', '-show_entries', 'packet=stream_index,pos,size', '-of', 'json', file])).toString('utf8');
  const parsed = JSON.parse(out) as { packets?: Array<{ stream_index: number; pos: string; size: string }> };
  return (parsed.packets ?? []).map((p) => ({ stream: p.stream_index, pos: Number(p.pos), size: Number(p.size) }));
}

test('a live, unfinalised recording cut at any point reads back exactly the frames completed before the cut', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--detector', 'none']);
  const client = runVigil(t, clientArgs(server.port, 'cut', video('megamind-clip.mp4'), audio('silence-10s.wav'), ['--width', '320', '--height', '240']));
  await client.waitForLine(/^WELCOME/);
  const rec = path.join(sessionDirOf(dir, 'cut'), 'recording.mkv');
  const snapshots: string[] = [];
  // Two copies while the candidate is still streaming: the Segment and the last Cluster still of unknown size.
  for (const [i, frames] of [30, 70].entries()) {
    for (const t0 = performance.now(); ; await sleep(20)) {
      const st = JSON.parse((await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done).stdout) as { candidates: Array<{ frames_recorded: number }> };
      if ((st.candidates[0]?.frames_recorded ?? 0) >= frames) break;
      assert.ok(performance.now() - t0 < 20_000, `${frames} frames recorded`);
    }
    const copy = path.join(dir, `live-${i}.mkv`);
    copyFileSync(rec, copy);
    snapshots.push(copy);
  }
  assert.equal(readJson<{ ended: string }>(path.join(sessionDirOf(dir, 'cut'), 'session.json')).ended, 'in_progress', 'the copies were taken from a live session');
  assert.equal((await client.done).code, 0);

  let cuts = 0;
  for (const snap of snapshots) {
    const bytes = readFileSync(snap);
    assert.equal(bytes.indexOf(Buffer.from([0x1c, 0x53, 0xbb, 0x6b])), -1, 'no Cues yet: not finalised');
    const all = await packets(snap);
    const video = all.filter((p) => p.stream === 0);
    assert.ok(video.length >= 25, `${video.length} frames in the live copy`);
    // Cut points: inside the header (no frame), at a frame's exact end, one byte short of it, inside a block
    // header just after a frame, in the middle of a frame, and a few spread over the file.
    const ends = new Map(all.map((p) => [p, blockEnd(bytes, p)]));
    const first = video[0]!;
    const mid = video[Math.floor(video.length / 2)]!;
    const points = [
      first.pos - 1,
      ends.get(first)!,
      ends.get(first)! - 1,
      ends.get(mid)!,
      ends.get(mid)! - 1,
      ends.get(mid)! + 2,
      mid.pos + Math.floor(mid.size / 2),
      ...[0.25, 0.6, 0.9].map((f) => Math.floor(bytes.length * f)),
    ];
    for (const cut of points) {
      const file = path.join(dir, `cut-${cuts++}.mkv`);
      writeFileSync(file, bytes.subarray(0, cut));
      const got = await packets(file);
      for (const stream of [0, 1]) {
        const complete = all.filter((p) => p.stream === stream && ends.get(p)! <= cut);
        const read = got.filter((p) => p.stream === stream);
        assert.equal(read.length, complete.length, `${path.basename(snap)} cut at ${cut} of ${bytes.length}: stream ${stream} has ${read.length} packets, ${complete.length} complete before the cut`);
        // The packets read are those very packets, not partial ones.
        assert.deepEqual(read.map((p) => [p.pos, p.size]), complete.map((p) => [p.pos, p.size]));
      }
    }
  }
  t.diagnostic(`${cuts} cuts of ${snapshots.length} live copies`);
});
