// NATS dies mid-exam: every node keeps accepting, recording and answering its admin socket; when NATS is back the
// nodes register again, their candidates (old and new) show in the cluster view, and no frame was lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import { NatsAdminClient } from '../src/cluster/remote-admin';
import type { ServerEvent } from '../src/protocol';
import { audio, clientArgs, runVigil, startServer, tempDir, video, waitForValue, waitUntil, type ClientRun } from './helpers';
import { startNats } from './nats-server';

const LIGHT = ['--fps', '5', '--width', '160', '--height', '120', '--loop', '--reconnect', '60'];

test('NATS stopped and restarted mid-exam: nodes record on, accept newcomers, come back into the cluster view, lose nothing', { timeout: 150_000 }, async (t) => {
  const nats = await startNats(t);
  const nodes = await Promise.all(['node-a', 'node-b'].map((name) => startServer(t, tempDir(t), ['--detector', 'none', '--nats', nats.url, '--node', name])));
  await Promise.all(nodes.map((s) => s.waitForLog((l) => l.msg === 'joined the cluster')));
  const clients = new Map<string, ClientRun>();
  const start = (id: string, port: number): void => {
    clients.set(id, runVigil(t, clientArgs(port, id, video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), LIGHT)));
  };
  start('a1', nodes[0]!.port);
  start('b1', nodes[1]!.port);

  const view = await NatsAdminClient.connect(nats.url);
  t.after(() => view.close());
  const events: ServerEvent[] = [];
  await view.subscribe((e) => events.push(e));
  await waitUntil('both candidates in the cluster view', async () => (await view.status()).candidates.length === 2, { everyMs: 250 });

  const admins = await Promise.all(nodes.map((n) => AdminClient.connect(n.adminSocket)));
  t.after(() => admins.forEach((a) => a.close()));
  const frames = async (i: number, id: string): Promise<number> => (await admins[i]!.status()).candidates.find((c) => c.id === id)?.frames_received ?? -1;

  await nats.kill();
  await Promise.all(nodes.map((n) => n.waitForLog((l) => l.msg === 'lost NATS; serving on, reconnecting')));
  // The outage lasts as long as it takes each node to record 40 more frames of its candidate (8 s at 5 fps) and to
  // admit a newcomer, checked on the local admin sockets: no fixed sleep, and at least the 10 s the issue names.
  const outageStart = Date.now();
  const base = [await frames(0, 'a1'), await frames(1, 'b1')];
  start('a2', nodes[0]!.port);
  await clients.get('a2')!.waitForLine(/^WELCOME session/);
  await waitUntil('both nodes record on without NATS', async () => (await frames(0, 'a1')) >= base[0]! + 40 && (await frames(1, 'b1')) >= base[1]! + 40, { everyMs: 250 });
  await waitUntil('ten seconds of outage', () => Date.now() - outageStart >= 10_000, { everyMs: 250 });
  assert.equal((await admins[0]!.status()).candidates.length, 2, 'node-a serves a1 and the newcomer a2');

  await nats.restart();
  await Promise.all(nodes.map((n) => n.waitForLog((l) => l.msg === 'NATS is back; republishing this node')));
  const back = await waitForValue('the cluster view with all three candidates', async () => {
    try {
      const s = await view.clusterStatus();
      return s.candidates.length === 3 && s.nodes.length === 2 ? s : undefined;
    } catch {
      return undefined;
    }
  }, { everyMs: 250 });
  assert.deepEqual(back.candidates.map((c) => `${c.id}@${c.node}`).sort(), ['a1@node-a', 'a2@node-a', 'b1@node-b']);
  // Events flow again to the same watcher: a mode switch on node-b arrives over the bus.
  await view.command({ type: 'set_mode', id: 'b1', mode: 'audio' });
  await waitUntil('the mode switch event after the outage', () => events.some((e) => e.kind === 'mode_changed' && e.id === 'b1'));

  // No frame lost anywhere: each client's final RECEIPT covers everything it sent.
  for (const c of clients.values()) c.proc.kill('SIGINT');
  for (const [id, c] of clients) {
    const r = await c.done;
    assert.equal(r.code, 130, `${id}:\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /^(LOST|UNCONFIRMED|RECORDING FAILED|DISCONNECTED)/m, `${id} never noticed the outage:\n${r.stdout}`);
    const receipt = /^RECEIPT session \S+: (\d+) video frames, (\d+) audio chunks/m.exec(r.stdout);
    const sent = /sent (\d+) video frames and (\d+) audio chunks/.exec(r.stdout);
    assert.ok(receipt && sent, r.stdout);
    assert.deepEqual([receipt[1], receipt[2]], [sent[1], sent[2]], `${id}: the receipt covers everything sent`);
  }
});
