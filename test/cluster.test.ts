// Two `vigil serve --nats` nodes on a real nats-server: one status for all, control across nodes, a dead node vanishes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from 'nats';
import { NatsAdminClient } from '../src/cluster/remote-admin';
import { ALL_EVENTS, parseBusMessage, type BusMessage } from '../src/cluster/wire';
import type { PreviewFrame, ServerEvent } from '../src/protocol';
import { clientArgs, runVigil, startServer, tempDir, video, waitForValue, waitUntil, type ClientRun } from './helpers';
import { startNats } from './nats-server';
import { startConsole } from './console-pty';

interface StatusJson {
  candidates: Array<{ id: string; node: string; frames_received: number }>;
  nodes: Array<{ node: string; candidates: string[]; load: { candidates: number; cpu_percent: number; rss_mb: number }; error: string | null }>;
}

async function clusterStatus(t: Parameters<typeof runVigil>[0], url: string): Promise<StatusJson> {
  const r = await runVigil(t, ['status', '--nats', url, '--json']).done;
  const s = JSON.parse(r.stdout) as StatusJson;
  // Exit 1 says a registered node did not answer (a node just killed, until its heartbeat expires).
  assert.equal(r.code, s.nodes.some((n) => n.error) ? 1 : 0, r.stderr);
  return s;
}

const LIGHT = ['--fps', '5', '--width', '160', '--height', '120', '--loop'];

test('two nodes on NATS: status lists every candidate with its node, kick and preview cross nodes, a dead node vanishes', { timeout: 120_000 }, async (t) => {
  const nats = await startNats(t);
  const node = (name: string) => startServer(t, tempDir(t), ['--detector', 'none', '--nats', nats.url, '--node', name]);
  const [a, b] = await Promise.all([node('node-a'), node('node-b')]);
  await Promise.all([a, b].map((s) => s.waitForLog((l) => l.msg === 'joined the cluster')));

  const clients = new Map<string, ClientRun>();
  for (const [server, prefix] of [[a, 'a'], [b, 'b']] as const) {
    for (let i = 1; i <= 3; i++) clients.set(`${prefix}${i}`, runVigil(t, clientArgs(server.port, `${prefix}${i}`, video('candidate-ok.mp4'), null, LIGHT)));
  }

  const bus = await connect({ servers: nats.url });
  t.after(() => bus.close());
  const seen: BusMessage[] = [];
  bus.subscribe(ALL_EVENTS, { callback: (_e, m) => seen.push(parseBusMessage(m.data)) });

  const full = await waitForValue('six candidates on two nodes in status --nats', async () => {
    const s = await clusterStatus(t, nats.url);
    return s.candidates.length === 6 && s.candidates.every((c) => c.frames_received > 0) ? s : undefined;
  });
  for (const c of full.candidates) assert.equal(c.node, c.id.startsWith('a') ? 'node-a' : 'node-b', `${c.id} is on its node`);
  assert.deepEqual(full.nodes.map((n) => n.node), ['node-a', 'node-b']);
  for (const n of full.nodes) {
    assert.deepEqual([...n.candidates].sort(), n.node === 'node-a' ? ['a1', 'a2', 'a3'] : ['b1', 'b2', 'b3']);
    assert.equal(n.error, null);
    assert.ok(n.load.rss_mb > 0);
  }
  // Events travel per node: candidate_joined for b1 came on node-b's subject.
  assert.ok(seen.some((m) => m.type === 'event' && m.node === 'node-b' && m.event.kind === 'candidate_joined' && m.event.id === 'b1'));
  await waitUntil('a 1 Hz summary from each node', () => ['node-a', 'node-b'].every((n) => seen.some((m) => m.type === 'summary' && m.node === n && m.candidates.length === 3)));

  // A proctor on the bus (no admin socket of either node) kicks a candidate of node-b and switches one of node-a.
  const admin = await NatsAdminClient.connect(nats.url);
  t.after(() => admin.close());
  const events: ServerEvent[] = [];
  await admin.subscribe((e) => events.push(e));
  await admin.command({ type: 'kick', id: 'b2', reason: 'phone on the desk' });
  const kicked = await clients.get('b2')!.done;
  assert.match(kicked.stdout, /^BYE kicked: phone on the desk$/m);
  await waitUntil('the kick as an event on the bus', () => events.some((e) => e.kind === 'kicked' && e.id === 'b2'));
  await admin.command({ type: 'set_mode', id: 'a1', mode: 'audio' });
  await waitUntil('the mode switch as an event', () => events.some((e) => e.kind === 'mode_changed' && e.id === 'a1' && e.mode === 'audio'));
  await assert.rejects(admin.command({ type: 'kick', id: 'nobody', reason: 'x' }), /no live node has a candidate "nobody"/);

  // The console on the bus shows the candidates of both nodes; K on b3 kicks it on node-b.
  const c = startConsole(t, a.adminSocket + '.unused', undefined, ['--nats', nats.url]);
  await c.waitFor('five candidates of two nodes', (s) => ['a1', 'a2', 'a3', 'b1', 'b3'].every((id) => new RegExp(`^.{0,3}${id}\\s+127\\.0\\.0\\.1:\\d+`, 'm').test(s)));
  assert.match(await c.current(), /connected to nats:\/\//);
  await waitUntil('b3 selected', async () => {
    await c.current();
    if (/b3/.test(c.selectedLine() ?? '')) return true;
    c.send('j');
    return false;
  }, { everyMs: 300 });
  c.send('K');
  await c.waitFor('the kick question', (s) => /Kick b3\?/.test(s));
  c.send('y');
  assert.match((await clients.get('b3')!.done).stdout, /^BYE kicked: removed by the proctor$/m);
  await c.waitFor('the kick in the console\'s event log', (s) => /b3 kicked: removed by the proctor/.test(s));
  c.send('q');
  assert.equal(await c.exited, 0);

  // Preview of a node-b candidate flows over core NATS while watched, and stops when the watcher stops.
  const frames: PreviewFrame[] = [];
  admin.onFrame((f) => frames.push(f));
  const watching = (n: number) => (m: BusMessage) => m.type === 'summary' && m.node === 'node-b' && m.watching === n;
  assert.ok(!seen.some(watching(1)), 'nobody watches before the preview');
  await admin.command({ type: 'preview', id: 'b1', fps: 5 });
  await waitUntil('preview frames of b1 over the bus', () => frames.filter((f) => f.id === 'b1').length >= 3);
  await waitUntil('node-b says someone watches', () => seen.some(watching(1)));
  await admin.command({ type: 'preview_stop' });
  const stoppedAt = seen.length;
  await waitUntil('node-b says nobody watches', () => seen.slice(stoppedAt).some(watching(0)));

  // SIGKILL node-b: it drops out of status within 10 s (its heartbeat key expires), node-a carries on.
  await b.stop('SIGKILL');
  const killedAt = Date.now();
  const after = await waitForValue(
    'node-b gone from status',
    async () => {
      const s = await clusterStatus(t, nats.url);
      return s.nodes.length === 1 ? s : undefined;
    },
    { timeoutMs: 15_000, everyMs: 250 },
  );
  const goneMs = Date.now() - killedAt;
  assert.ok(goneMs <= 10_000, `a dead node must vanish within 10 s (took ${goneMs} ms)`);
  assert.deepEqual(after.nodes.map((n) => n.node), ['node-a']);
  assert.deepEqual(after.candidates.map((c) => c.id).sort(), ['a1', 'a2', 'a3']);
  t.diagnostic(`dead node gone from status after ${goneMs} ms`);
});
