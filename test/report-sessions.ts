// Real sessions for the report tests, recorded by a real `vigil serve`, and the readers the tests check the report
// with (an RFC 4180 CSV parser, grayscale frames decoded by ffmpeg).
import { execFile } from 'node:child_process';
import { AdminClient } from '../src/admin/client';
import { flakyLink as relay } from './flaky-link';
import { audio, clientArgs, edgeShiftedIncidents, runVigil, startServer, video, waitForValue, waitUntil } from './helpers';

type T = { after(fn: () => Promise<unknown> | void): void };


async function audioRecorded(admin: AdminClient, id: string): Promise<number> {
  return (await admin.status()).candidates.find((c) => c.id === id)?.audio_s ?? 0;
}

/**
 * Three sessions in `dir`: `clean` (one face throughout, silence), `every` (no face, misaligned, two faces from the
 * edge-shifted incidents video, speech twice, and a dropped link it resumes from: a `disconnected` incident), and
 * `crash` (the server SIGKILLed while it records: session.json still in_progress, the recording never finalised).
 */
export async function recordThreeSessions(t: T, dir: string): Promise<void> {
  const server = await startServer(t, dir, ['--resume-window', '20']);
  const link = await relay(t, server.port);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const clean = runVigil(t, clientArgs(server.port, 'clean', video('candidate-ok.mp4'), audio('silence-10s.wav')));
  const every = runVigil(t, clientArgs(link.port, 'every', await edgeShiftedIncidents('candidate-incidents.mp4'), audio('speech-silence-speech.wav')));
  await Promise.all([clean, every].map((r) => r.waitForLine(/^WELCOME/)));
  let seen = 0;
  await waitUntil('2 s of every\'s audio recorded', async () => (seen = await audioRecorded(admin, 'every')) >= 2, { seen: () => seen });
  if (link.cut() !== 1) throw new Error('the relay held no connection to cut');
  await every.waitForLine(/^RESUMED session /);
  for (const r of [clean, every]) {
    const res = await r.done;
    if (res.code !== 0) throw new Error(`client exited ${res.code}: ${res.stderr}`);
  }
  const crash = runVigil(t, clientArgs(server.port, 'crash', video('candidate-ok.mp4'), audio('silence-10s.wav'), ['--reconnect', '0']));
  await crash.waitForLine(/^WELCOME/);
  await waitForValue('3 s of crash\'s audio recorded', async () => ((await audioRecorded(admin, 'crash')) >= 3 ? true : undefined));
  server.proc.kill('SIGKILL');
  await server.exited;
  await crash.done;
}

/** RFC 4180: CRLF records, quoted fields with doubled quotes; returns rows of strings, header first. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else if (c === '\n') throw new Error(`bare LF at ${i}: RFC 4180 records end in CRLF`);
    else field += c;
    i++;
  }
  if (field !== '' || row.length) throw new Error('the last record does not end in CRLF');
  return rows;
}

/** CSV rows as objects keyed by the header. */
export function csvRecords(text: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(text);
  return rows.map((r) => {
    if (r.length !== header!.length) throw new Error(`a row has ${r.length} fields, the header ${header!.length}`);
    return Object.fromEntries(header!.map((h, i) => [h, r[i]!]));
  });
}

export const GRAY_W = 64;
export const GRAY_H = 48;

function ffmpegRaw(args: string[]): Promise<{ out: Buffer; err: string }> {
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (e, out, err) => {
      if (e) reject(new Error(`ffmpeg ${args.join(' ')}: ${err.toString()}`));
      else resolve({ out, err: err.toString() });
    });
  });
}

/** An image file as 64x48 grayscale. */
export async function grayImage(file: string): Promise<Buffer> {
  return (await ffmpegRaw(['-v', 'error', '-i', file, '-frames:v', '1', '-vf', `scale=${GRAY_W}:${GRAY_H},format=gray`, '-f', 'rawvideo', '-'])).out;
}

/** Every frame of a recording from `fromS` for `spanS`, as 64x48 grayscale with its timestamp. */
export async function grayFrames(mkv: string, fromS: number, spanS: number): Promise<Array<{ t: number; gray: Buffer }>> {
  const { out, err } = await ffmpegRaw(['-hide_banner', '-loglevel', 'info', '-ss', Math.max(0, fromS).toFixed(3), '-t', spanS.toFixed(3), '-copyts', '-i', mkv, '-map', '0:v:0', '-vf', `showinfo,scale=${GRAY_W}:${GRAY_H},format=gray`, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-']);
  const times = [...err.matchAll(/pts_time:\s*(-?[\d.]+)/g)].map((m) => Number(m[1]));
  const size = GRAY_W * GRAY_H;
  return times.map((t, i) => ({ t, gray: out.subarray(i * size, (i + 1) * size) })).filter((f) => f.gray.length === size);
}

export function meanAbsDiff(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}
