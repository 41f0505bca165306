import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AdminClient } from '../admin/client';
import type { AdminLink } from '../admin/link';

const PLAYER = path.join(__dirname, '..', 'media', 'audio-out-worker.js');

export interface ListenOptions {
  id: string;
  adminSocket: string;
  /** Another admin source (the NATS cluster) in place of the socket. */
  connect?: () => Promise<AdminLink>;
  signal: AbortSignal;
  err: NodeJS.WritableStream;
}

/**
 * `vigil listen ID`: the candidate's live audio from the admin socket, played on this machine's default output
 * by a PortAudio child process. Ends on Ctrl-C or when the candidate leaves.
 */
export async function runListen(opts: ListenOptions): Promise<number> {
  const client = await (opts.connect?.() ?? AdminClient.connect(opts.adminSocket));
  const cwd = mkdtempSync(path.join(tmpdir(), 'vigil-listen-'));
  let player: ChildProcess | null = null;
  let playerError = '';
  let settled = false;
  let resolveFinished!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (resolveFinished = resolve));
  const finish = (code: number): void => {
    if (settled) return;
    settled = true;
    resolveFinished(code);
  };
  client.onAudio((a) => {
    if (!player) {
      player = spawn(process.execPath, [PLAYER, String(a.sample_rate), String(a.channels)], { cwd, stdio: ['pipe', 'ignore', 'pipe'] });
      player.stderr!.setEncoding('utf8').on('data', (d: string) => (playerError += d));
      player.stdin!.on('error', () => undefined);
      player.once('exit', (code) => {
        if (code) {
          const why = /"error":"([^"]+)"/.exec(playerError)?.[1] ?? playerError.trim();
          opts.err.write(`vigil listen: cannot play the audio: ${why}\n`);
          finish(1);
        }
      });
      opts.err.write(`listening to ${opts.id} (${a.sample_rate} Hz, ${a.channels} channel(s)); Ctrl-C stops\n`);
    }
    player.stdin!.write(Buffer.from(a.pcm, 'base64'));
  });
  client.onClosed((why) => {
    if (settled) return;
    opts.err.write(`vigil listen: ${why}\n`);
    finish(1);
  });
  opts.signal.addEventListener('abort', () => finish(0), { once: true });
  try {
    await client.subscribe((e) => {
      if (e.kind === 'candidate_left' && e.id === opts.id) {
        opts.err.write(`${opts.id} left (${e.ended})\n`);
        finish(0);
      }
    });
    await client.command({ type: 'listen', id: opts.id });
    return await finished;
  } finally {
    client.close();
    const p = player as ChildProcess | null;
    if (p && p.exitCode === null) {
      // Let the player write out what it has, then make sure it is gone.
      p.stdin!.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          p.kill('SIGKILL');
          resolve();
        }, 2000);
        p.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    rmSync(cwd, { recursive: true, force: true });
  }
}
