// Real nats-server (Debian's, with JetStream) for the cluster tests: a free port, a temp store dir, stopped on close.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { tempDir } from './helpers';

export const NATS_SERVER = process.env['VIGIL_NATS_SERVER'] ?? '/usr/sbin/nats-server';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningNats {
  url: string;
  port: number;
  /** Stops the server (SIGKILL: a crash, not a goodbye). */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  log(): string;
}

export async function startNats(t: { after(fn: () => Promise<unknown> | void): void }): Promise<RunningNats> {
  const port = await freePort();
  const store = tempDir(t, 'vigil-nats-');
  let proc: ChildProcess | null = null;
  let out = '';
  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const p = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      const timer = setTimeout(() => reject(new Error(`nats-server not ready within 15 s:\n${out}`)), 15_000);
      const onData = (d: string): void => {
        out += d;
        if (/Server is ready/.test(out.slice(-4000))) {
          clearTimeout(timer);
          resolve();
        }
      };
      p.stderr!.setEncoding('utf8').on('data', onData);
      p.stdout!.setEncoding('utf8').on('data', onData);
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}):\n${out}`));
      });
    });
  const kill = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  await launch();
  t.after(kill);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kill,
    restart: async () => {
      out = '';
      await launch();
    },
    log: () => out,
  };
}
