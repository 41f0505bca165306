/**
 * bench/report: how long `vigil report` takes over a folder of N sessions. Three real sessions are recorded first
 * (a real `vigil serve` and clients: one with incidents, one clean, one cut by a server SIGKILL), then copied
 * (hard links) to make folders of N sessions, and `vigil report` runs over each as a child process.
 *
 *   node dist/bench/report.js [--sizes 3,30,300]
 */
import { spawn } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AdminClient } from '../src/admin/client';
import { startServer } from './lib/media';
import { MEDIA, REPO, fmt, machineInfo, machineLine, strArg, table, writeResult } from './lib/report';

const VIGIL = path.join(REPO, 'bin', 'vigil');

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const client = (port: number, id: string, video: string, audio: string, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  run(VIGIL, ['client', '--server', `127.0.0.1:${port}`, '--id', id, '--video', path.join(MEDIA, 'video', video), '--audio', path.join(MEDIA, 'audio', audio), ...extra]);

async function recordSessions(dir: string): Promise<void> {
  const server = await startServer(dir, [], 'discard');
  const done = await Promise.all([
    client(server.port, 'incidents', 'candidate-incidents.mp4', 'speech-silence-speech.wav'),
    client(server.port, 'clean', 'candidate-ok.mp4', 'silence-10s.wav'),
  ]);
  for (const d of done) if (d.code !== 0) throw new Error(`a client exited ${d.code}: ${d.stderr}`);
  const crash = client(server.port, 'crash', 'candidate-ok.mp4', 'silence-10s.wav', ['--reconnect', '0']);
  const admin = await AdminClient.connect(server.adminSocket);
  const deadline = Date.now() + 30_000;
  while (((await admin.status()).candidates.find((c) => c.id === 'crash')?.audio_s ?? 0) < 3) {
    if (Date.now() > deadline) throw new Error('the crash session recorded nothing within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  admin.close();
  server.proc.kill('SIGKILL');
  await crash;
}

/** `copies` hard-linked copies of every session in `from`, as candidates named <id>-<n>. */
function copies(from: string, to: string, n: number): void {
  const sessions = readdirSync(from).filter((c) => statSync(path.join(from, c)).isDirectory()).flatMap((c) => readdirSync(path.join(from, c)).map((s) => [c, s] as const));
  for (let i = 0; i < n; i++) {
    const [cand, sess] = sessions[i % sessions.length]!;
    const dest = path.join(to, `${cand}-${Math.floor(i / sessions.length) + 1}`, sess);
    mkdirSync(dest, { recursive: true });
    for (const f of readdirSync(path.join(from, cand, sess))) linkSync(path.join(from, cand, sess, f), path.join(dest, f));
  }
}

function dirBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((a, e) => a + statSync(path.join(e.parentPath, e.name)).size, 0);
}

async function main(): Promise<void> {
  const sizes = strArg('--sizes', '3,30,300').split(',').map(Number);
  const machine = machineInfo();
  console.log(`bench/report: ${machineLine(machine)}`);
  const work = mkdtempSync(path.join(tmpdir(), 'vigil-bench-report-'));
  try {
    const rec = path.join(work, 'rec');
    console.log('recording three sessions (about 35 s) ...');
    await recordSessions(rec);
    const rows: string[][] = [];
    for (const n of sizes) {
      const dir = path.join(work, `n${n}`);
      const out = path.join(work, `out${n}`);
      copies(rec, dir, n);
      const t0 = performance.now();
      // `times` prints the shell's and its children's CPU: the report and every ffprobe/ffmpeg it ran.
      const r = await run('sh', ['-c', '"$0" report --record-dir "$1" --out "$2" 2>"$2.err"; echo "exit $?"; times', VIGIL, dir, out]);
      const wall = (performance.now() - t0) / 1000;
      const exit = /exit (\d+)/.exec(r.stdout)?.[1] ?? '?';
      const cpu = r.stdout.trim().split('\n').at(-1)!.split(/\s+/).map((v) => {
        const m = /^(\d+)m([\d.]+)s$/.exec(v);
        return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
      }).reduce((a, b) => a + b, 0);
      const pictures = readdirSync(path.join(out, 'img')).length;
      rows.push([String(n), String(pictures), exit, fmt(wall, 1), fmt(cpu, 1), fmt((wall * 1000) / n, 0), fmt(dirBytes(out) / 1e6, 1)]);
      console.log(rows.at(-1)!.join('  '));
      rmSync(dir, { recursive: true, force: true });
    }
    const body = table(['sessions', 'pictures', 'exit', 'wall s', 'CPU s', 'wall ms per session', 'report MB'], rows, [true, true, true, true, true, true, true]);
    console.log(body);
    writeResult(
      'report',
      machine,
      'Copies (hard links) of three real sessions recorded by `vigil serve`: 30 s with every face incident and speech (two ' +
        'face pictures), 20 s clean, 3 s cut by a server SIGKILL (never finalised, read packet by packet, exit 3). ' +
        '`vigil report` runs as a child process with its default parallelism (twice the cores); CPU is the report\'s and ' +
        `every ffprobe and ffmpeg it ran.\n\n${body}`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
