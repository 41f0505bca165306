/**
 * bench/cluster: the same N candidates (160x120 JPEG at 5 fps plus 16 kHz mono audio, real `vigil client`
 * processes) on 1 node and on 3 nodes behind HAProxy, all on one NATS server (nats-server -js, monitoring on).
 * Measured: frames lost (each client's final RECEIPT against what it sent), CPU per node (/proc), bus messages
 * and bytes per second (nats-server's /varz, steady state, nobody watching), the round trip of a control request
 * across nodes (set_mode, the kick path; p50/p99 of 200), and on 3 nodes the time from a node's SIGKILL to each
 * of its candidates printing RESUMED (p50/p99).
 *
 *   node dist/bench/cluster.js [--clients 12] [--seconds 20] [--no-results]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NatsAdminClient } from '../src/cluster/remote-admin';
import { startServer, type BenchServer } from './lib/media';
import { cpuSeconds } from './lib/proc';
import { MEDIA, REPO, fmt, intArg, machineInfo, table, writeResult } from './lib/report';

const CLIENTS = intArg('--clients', 12);
const SECONDS = intArg('--seconds', 20);
const WRITE_RESULTS = !process.argv.includes('--no-results');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (v: number[], p: number): number => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] ?? NaN;

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await get().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Everything this bench starts, killed if it dies, so nothing outlives it. */
const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((p) => p.kill('SIGKILL')));
function track(p: ChildProcess): ChildProcess {
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

function spawnTool(cmd: string, args: string[]): ChildProcess {
  return track(spawn(cmd, args, { stdio: 'ignore' }));
}

interface Client {
  id: string;
  proc: ChildProcess;
  out: string;
  done: Promise<void>;
}

function startClient(port: number, id: string): Client {
  const proc = spawn(path.join(REPO, 'bin', 'vigil'), ['client', '--server', `127.0.0.1:${port}`, '--id', id, '--video', path.join(MEDIA, 'video', 'candidate-ok.mp4'),
    '--audio', path.join(MEDIA, 'audio', 'speech-16k-mono.wav'), '--fps', '5', '--width', '160', '--height', '120', '--loop', '--reconnect', '60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const c: Client = { id, proc, out: '', done: new Promise((r) => proc.once('close', () => r())) };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (c.out += d));
  track(proc);
  return c;
}

/** Items each client sent that its final RECEIPT does not count (0 when the recording holds everything). */
function lost(c: Client): number {
  const r = /^RECEIPT session \S+: (\d+) video frames, (\d+) audio chunks/m.exec(c.out);
  const s = /sent (\d+) video frames and (\d+) audio chunks/.exec(c.out);
  if (!r || !s) return Infinity;
  return Math.max(0, Number(s[1]) - Number(r[1])) + Math.max(0, Number(s[2]) - Number(r[2]));
}

async function varz(port: number): Promise<{ msgs: number; bytes: number }> {
  const v = (await (await fetch(`http://127.0.0.1:${port}/varz`)).json()) as { in_msgs: number; in_bytes: number };
  return { msgs: v.in_msgs, bytes: v.in_bytes };
}

interface Row {
  nodes: number;
  lost: number;
  cpu: string;
  msgsPerS: number;
  bytesPerS: number;
  rtt: [number, number];
  resume: [number, number] | null;
}

async function run(nodeCount: number): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-bench-cluster-'));
  const [natsPort, monPort] = [await freePort(), await freePort()];
  const nats = spawnTool('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-m', String(monPort), '-sd', path.join(dir, 'js')]);
  const url = `nats://127.0.0.1:${natsPort}`;
  await waitFor('nats-server', async () => (await varz(monPort)) && true);
  const names = Array.from({ length: nodeCount }, (_, i) => `node-${i + 1}`);
  const nodes: BenchServer[] = [];
  for (const name of names) nodes.push(await startServer(path.join(dir, name), ['--detector', 'none', '--nats', url, '--node', name, '--max-pending-per-ip', '256', '--log-level', 'warn'], 'discard'));
  let port = nodes[0]!.port;
  let lb: ChildProcess | null = null;
  if (nodeCount > 1) {
    port = await freePort();
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, ['global', '    maxconn 2000', 'defaults', '    mode tcp', '    timeout connect 2s', '    timeout client 1h', '    timeout server 1h', '    retries 3', '    option redispatch',
      'frontend c', `    bind 127.0.0.1:${port}`, '    default_backend v', 'backend v', '    balance leastconn', '    default-server check inter 1s fall 2 rise 2',
      ...names.map((n, i) => `    server ${n} 127.0.0.1:${nodes[i]!.port}`), ''].join('\n'));
    lb = spawnTool('haproxy', ['-f', cfg, '-db']);
    await sleep(500);
  }
  const clients = Array.from({ length: CLIENTS }, (_, i) => startClient(port, `k${i + 1}`));
  const admin = await waitFor('the NATS admin link', () => NatsAdminClient.connect(url));
  await waitFor('every candidate streaming', async () => {
    const s = await admin.clusterStatus();
    return s.candidates.length === CLIENTS && s.candidates.every((c) => c.frames_received > 5) ? true : undefined;
  });

  const cpu0 = nodes.map((n) => cpuSeconds(n.pid) ?? 0);
  const bus0 = await varz(monPort);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const wall = (performance.now() - t0) / 1000;
  const bus1 = await varz(monPort);
  const cpu = nodes.map((n, i) => `${fmt((((cpuSeconds(n.pid) ?? 0) - cpu0[i]!) / wall) * 100, 0)} %`).join(', ');

  const ids = (await admin.clusterStatus()).candidates.map((c) => c.id);
  const rtt: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await admin.command({ type: 'set_mode', id: ids[i % ids.length]!, mode: 'both' });
    rtt.push(performance.now() - t);
  }

  let resume: [number, number] | null = null;
  if (nodeCount > 1) {
    const s = await admin.clusterStatus();
    const victimNode = s.nodes.reduce((a, b) => (b.candidates.length > a.candidates.length ? b : a));
    const victims = clients.filter((c) => victimNode.candidates.includes(c.id));
    const killedAt = performance.now();
    nodes[names.indexOf(victimNode.node)]!.proc.kill('SIGKILL');
    const times = await Promise.all(victims.map((c) => waitFor(`${c.id} to resume`, async () => (/^RESUMED session/m.test(c.out) ? performance.now() - killedAt : undefined))));
    resume = [pct(times, 50), pct(times, 99)];
    await sleep(3000);
  }
  admin.close();
  for (const c of clients) c.proc.kill('SIGINT');
  await Promise.all(clients.map((c) => c.done));
  await Promise.all(nodes.map((n) => n.stop()));
  lb?.kill('SIGKILL');
  nats.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return {
    nodes: nodeCount,
    lost: clients.reduce((n, c) => n + lost(c), 0),
    cpu,
    msgsPerS: (bus1.msgs - bus0.msgs) / wall,
    bytesPerS: (bus1.bytes - bus0.bytes) / wall,
    rtt: [pct(rtt, 50), pct(rtt, 99)],
    resume,
  };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const rows: Row[] = [];
  for (const n of [1, 3]) {
    process.stderr.write(`bench/cluster: ${CLIENTS} candidates on ${n} node(s), ${SECONDS} s...\n`);
    rows.push(await run(n));
  }
  const body = [
    `${CLIENTS} candidates (160x120 JPEG at 5 fps + 16 kHz mono audio, real clients), detection off, ${SECONDS} s steady state; nobody watching (no preview on the bus). Frames lost: items sent that the final RECEIPT does not hold (the 3-node run includes the killed node's candidates).`,
    '',
    table(
      ['nodes', 'items lost', 'CPU per node', 'bus msgs/s', 'bus KB/s', 'per candidate', 'control p50 / p99', 'resume after SIGKILL p50 / p99'],
      rows.map((r) => [r.nodes, r.lost, r.cpu, fmt(r.msgsPerS, 1), fmt(r.bytesPerS / 1000, 1), `${fmt(r.msgsPerS / CLIENTS, 2)} msg/s, ${fmt(r.bytesPerS / CLIENTS / 1000, 2)} KB/s`, `${fmt(r.rtt[0], 1)} / ${fmt(r.rtt[1], 1)} ms`, r.resume ? `${fmt(r.resume[0], 0)} / ${fmt(r.resume[1], 0)} ms` : '-']),
      [true, true, false, true, true, false, false, false],
    ),
  ].join('\n');
  process.stdout.write(body + '\n');
  if (rows.some((r) => r.lost > 0)) {
    process.stderr.write('bench/cluster: items were lost; no results written\n');
    process.exitCode = 1;
    return;
  }
  if (WRITE_RESULTS) process.stderr.write(`bench/cluster: wrote ${writeResult('cluster', machine, body)}\n`);
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench/cluster: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
