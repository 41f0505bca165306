/**
 * bench/protocol: decoder throughput for video-sized and audio-sized messages, fed in random chunk sizes as a
 * socket would deliver them, on one core. Prints a table and writes it to bench/results/protocol.md.
 *
 *   node dist/bench/protocol.js [--seconds 3]
 */
import { Decoder, encode, type Message } from '../src/protocol';
import { cpuTimeS, fmt, intArg, machineInfo, machineLine, table, writeResult } from './lib/report';

const seconds = intArg('--seconds', 3);
const machine = machineInfo();

/** A deterministic PRNG so every run splits the stream the same way. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function stream(kind: 'video' | 'audio', count: number): Buffer {
  const rand = rng(kind === 'video' ? 1 : 2);
  const msgs: Message[] = [];
  for (let i = 0; i < count; i++) {
    if (kind === 'video') {
      const jpeg = Buffer.alloc(45 * 1024 + Math.floor(rand() * 2048), 0x5a);
      jpeg.writeUInt16BE(0xffd8, 0);
      msgs.push({ type: 'video_frame', seq: i, timestampMs: i * 66.67, jpeg });
    } else {
      msgs.push({ type: 'audio_chunk', seq: i, timestampMs: i * 40, pcm: Buffer.alloc(1024 + 2 * Math.floor(rand() * 512)) });
    }
  }
  return Buffer.concat(msgs.map(encode));
}

function chunks(buf: Buffer, maxChunk: number, seed: number): Buffer[] {
  const rand = rng(seed);
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    const n = 1 + Math.floor(rand() * maxChunk);
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  return out;
}

interface Row {
  case: string;
  messages: number;
  mbPerS: number;
  msgsPerS: number;
}

function run(name: string, data: Buffer, parts: Buffer[], perPass: number): Row {
  let bytes = 0;
  let messages = 0;
  const start = performance.now();
  const cpu0 = cpuTimeS();
  while (performance.now() - start < seconds * 1000) {
    const d = new Decoder();
    for (const p of parts) {
      const r = d.push(p);
      messages += r.messages.length;
      if (r.error) throw r.error;
    }
    bytes += data.length;
  }
  // Per second of this process's CPU time, so a busy shared machine does not lower the figure.
  const s = cpuTimeS() - cpu0;
  if (messages % perPass !== 0) throw new Error('lost messages');
  return { case: name, messages: perPass, mbPerS: bytes / 1e6 / s, msgsPerS: messages / s };
}

const video = stream('video', 200);
const audio = stream('audio', 5000);
const rows: Row[] = [
  run('video 45 KB, chunks 1 B-64 KB', video, chunks(video, 65536, 3), 200),
  run('video 45 KB, chunks 1 B-1.5 KB', video, chunks(video, 1500, 4), 200),
  run('audio 1-2 KB, chunks 1 B-64 KB', audio, chunks(audio, 65536, 6), 5000),
  run('audio 1-2 KB, chunks 1 B-1.5 KB', audio, chunks(audio, 1500, 7), 5000),
];

const header = ['case', 'MB per CPU second', 'messages per CPU second'];
const body = table(header, rows.map((r) => [r.case, fmt(r.mbPerS), fmt(r.msgsPerS)]), [false, true, true]);
console.log(`bench/protocol: ${machineLine(machine)}`);
console.log(body);
writeResult(
  'protocol',
  machine,
  `Decoder throughput on one core per second of its own CPU time (user + system), ${seconds} s per case, the stream cut into random chunk sizes as sockets deliver it ` +
    `(MB = 10^6 bytes of encoded stream, headers included):\n\n${body}\n\n` +
    `Payloads that fit in one chunk are handed on without copying, which is why large chunks run at memory speed. ` +
    `On a shared machine the spread between runs is large (about ±50 %).`,
);
