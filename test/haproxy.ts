// Real HAProxy (Debian's 2.6) in front of test nodes: the shape of deploy/haproxy.cfg, with local ports.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir, waitUntil } from './helpers';
import { freePort } from './nats-server';

export const HAPROXY = process.env['VIGIL_HAPROXY'] ?? '/usr/sbin/haproxy';

export function haproxyConfig(frontPort: number, servers: Array<{ name: string; port: number }>): string {
  return [
    'global',
    '    maxconn 2000',
    'defaults',
    '    mode tcp',
    '    timeout connect 2s',
    '    timeout client 1h',
    '    timeout server 1h',
    '    retries 3',
    '    option redispatch',
    'frontend candidates',
    `    bind 127.0.0.1:${frontPort}`,
    '    default_backend vigil',
    'backend vigil',
    '    balance leastconn',
    '    default-server check inter 1s fall 2 rise 2 on-marked-down shutdown-sessions',
    ...servers.map((s) => `    server ${s.name} 127.0.0.1:${s.port}`),
    '',
  ].join('\n');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts haproxy in the foreground; resolves with the port candidates connect to. Killed on close. */
export async function startHaproxy(t: { after(fn: () => Promise<unknown> | void): void }, servers: Array<{ name: string; port: number }>): Promise<{ port: number; log: () => string }> {
  const port = await freePort();
  const cfg = path.join(tempDir(t, 'vigil-haproxy-'), 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, servers));
  const proc = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  t.after(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await gone;
  });
  await waitUntil('haproxy to listen', async () => {
    if (proc.exitCode !== null) throw new Error(`haproxy exited (${proc.exitCode}):\n${out}`);
    return accepts(port);
  }, { timeoutMs: 15_000, everyMs: 100 });
  return { port, log: () => out };
}
