// A node dies mid-exam: its candidates reconnect through HAProxy to the live nodes and continue the same sessions
// as new parts, losing no frame; and two nodes racing to own one session: exactly one wins.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connect } from 'nats';
import pino from 'pino';
import { ClusterSessions } from '../src/cluster/sessions';
import { SESSIONS_BUCKET } from '../src/cluster/session-entry';
import { packetTimes } from '../src/media/probe';
import { issueToken, loadSecret, type SessionRecord } from '../src/server';
import { audio, clientArgs, execText, runVigil, startServer, tempDir, video, waitForValue, waitUntil, type ClientRun, type RunningServer } from './helpers';
import { startHaproxy } from './haproxy';
import { startNats } from './nats-server';
import { WirePeer, inProcessServer } from './wire-peer';

interface StatusJson {
  candidates: Array<{ id: string; node: string; session_id: string; frames_received: number; audio_s: number }>;
  nodes: Array<{ node: string; candidates: string[]; error: string | null }>;
}

async function clusterStatus(t: Parameters<typeof runVigil>[0], url: string): Promise<StatusJson> {
  const r = await runVigil(t, ['status', '--nats', url, '--json']).done;
  return JSON.parse(r.stdout) as StatusJson;
}

/** Distinct packet timestamps of one track across every part's recording: a frame recorded twice counts once. */
async function distinctPackets(files: string[], track: 'v' | 'a'): Promise<number> {
  const seen = new Set<string>();
  for (const f of files) {
    const out = await execText('ffprobe', ['-v', 'error', '-select_streams', track, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', f]);
    for (const line of out.split('\n')) if (line.trim()) seen.add(line.trim());
  }
  return seen.size;
}

const LIGHT = ['--fps', '5', '--width', '160', '--height', '120', '--loop', '--reconnect', '60', '--buffer', '10'];

test('a node killed mid-stream: its candidates continue their sessions on the live nodes, every captured frame recorded', { timeout: 180_000 }, async (t) => {
  const nats = await startNats(t);
  const names = ['node-a', 'node-b', 'node-c'];
  const nodes = new Map<string, RunningServer>();
  // One secret file for the whole cluster: a candidate's token is good on whichever node takes it.
  const secretFile = path.join(tempDir(t), 'cluster.secret');
  const secret = await loadSecret(secretFile);
  await Promise.all(
    names.map(async (name) => {
      const s = await startServer(t, tempDir(t), ['--auth', 'tokens', '--secret-file', secretFile, '--detector', 'none', '--nats', nats.url, '--node', name, '--max-pending-per-ip', '64']);
      nodes.set(name, s);
      await s.waitForLog((l) => l.msg === 'joined the cluster');
    }),
  );
  const lb = await startHaproxy(t, names.map((name) => ({ name, port: nodes.get(name)!.port })));

  const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
  const clients = new Map<string, ClientRun>();
  for (const id of ids) clients.set(id, runVigil(t, clientArgs(lb.port, id, video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), [...LIGHT, '--token', await issueToken(secret, id, 3600)])));
  const before = await waitForValue('six candidates streaming, spread over the nodes', async () => {
    const s = await clusterStatus(t, nats.url);
    return s.candidates.length === 6 && s.candidates.every((c) => c.frames_received >= 10) ? s : undefined;
  }, { everyMs: 500 });
  assert.ok(new Set(before.candidates.map((c) => c.node)).size >= 2, 'leastconn spreads the candidates');

  // SIGKILL the node of c1: no goodbye, no finalised files, its heartbeat and checkpoints just stop.
  const deadName = before.candidates.find((c) => c.id === 'c1')!.node;
  const victims = before.candidates.filter((c) => c.node === deadName).map((c) => c.id);
  const sessionOf = new Map(before.candidates.map((c) => [c.id, c.session_id]));
  const dead = nodes.get(deadName)!;
  const killedAt = Date.now();
  await dead.stop('SIGKILL');

  const resumeMs: number[] = [];
  await Promise.all(
    victims.map(async (id) => {
      await clients.get(id)!.waitForLine(/^RESUMED session/, 30_000);
      resumeMs.push(Date.now() - killedAt);
    }),
  );
  t.diagnostic(`${victims.length} candidate(s) of ${deadName} resumed on other nodes after ${resumeMs.sort((a, b) => a - b).join(', ')} ms`);
  const after = await waitForValue('the victims streaming again on live nodes, in the same sessions', async () => {
    const s = await clusterStatus(t, nats.url);
    const moved = s.candidates.filter((c) => victims.includes(c.id));
    return s.candidates.length === 6 && moved.every((c) => c.node !== deadName && c.frames_received >= 10) ? s : undefined;
  }, { everyMs: 500 });
  for (const id of victims) assert.equal(after.candidates.find((c) => c.id === id)!.session_id, sessionOf.get(id), `${id} keeps its session id`);

  // Every client stops (Ctrl-C: exit 130); its final RECEIPT must confirm every item it captured, none lost.
  for (const c of clients.values()) c.proc.kill('SIGINT');
  const results = new Map<string, Awaited<ClientRun['done']>>();
  for (const [id, c] of clients) results.set(id, await c.done);
  for (const [id, r] of results) {
    assert.equal(r.code, 130, `${id} exits as interrupted, nothing worse:\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /^(LOST|UNCONFIRMED|RECORDING FAILED)/m, id);
    const receipt = /^RECEIPT session \S+: (\d+) video frames, (\d+) audio chunks/m.exec(r.stdout);
    const sent = /sent (\d+) video frames and (\d+) audio chunks .*?(?:, (\d+) lost)?$/m.exec(r.stdout);
    assert.ok(receipt && sent, r.stdout);
    assert.deepEqual([receipt[1], receipt[2]], [sent[1], sent[2]], `${id}: the receipt covers everything sent`);
    assert.ok(!sent[3] || sent[3] === '0', `${id}: nothing fell out of the resend buffer`);
  }

  for (const id of victims) {
    const sid = sessionOf.get(id)!;
    const newNode = after.candidates.find((c) => c.id === id)!.node;
    const part1 = path.join(dead.recordDir, id, sid);
    const part2 = path.join(nodes.get(newNode)!.recordDir, id, `${sid}.part2`);
    await waitUntil(`${id}'s second part finalised on ${newNode}`, () => existsSync(path.join(part2, 'session.json')) && (JSON.parse(readFileSync(path.join(part2, 'session.json'), 'utf8')) as SessionRecord).ended !== 'in_progress');
    const rec = JSON.parse(readFileSync(path.join(part2, 'session.json'), 'utf8')) as SessionRecord;
    assert.equal(rec.session_id, sid);
    assert.equal(rec.part, 2);
    assert.deepEqual(rec.parts, [
      { part: 1, node: deadName, dir: sid },
      { part: 2, node: newNode, dir: `${sid}.part2` },
    ]);
    const incidents = readFileSync(path.join(part2, 'incidents.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; kind: string; start_s: number; end_s: number | null });
    const gap = incidents.find((i) => i.kind === 'disconnected' && i.event === 'close');
    assert.ok(gap && gap.end_s !== null && gap.end_s >= gap.start_s, `${id}: the gap is a closed disconnected incident: ${JSON.stringify(incidents)}`);

    const files = [path.join(part1, 'recording.mkv'), path.join(part2, 'recording.mkv')];
    const sent = /sent (\d+) video frames and (\d+) audio chunks/.exec(results.get(id)!.stdout);
    assert.ok(sent, results.get(id)!.stdout);
    const [frames, chunks] = [Number(sent[1]), Number(sent[2])];
    const [v, a] = [await distinctPackets(files, 'v'), await distinctPackets(files, 'a')];
    const perPart = await Promise.all(files.map(async (f) => `${path.basename(path.dirname(f))}: ${(await packetTimes(f, 'v'))?.packets ?? 0} v / ${(await packetTimes(f, 'a'))?.packets ?? 0} a`));
    t.diagnostic(`${id}: client sent ${frames} frames / ${chunks} chunks; parts hold ${v} / ${a} distinct (${perPart.join('; ')})`);
    assert.ok(v >= frames, `${id}: the parts hold ${v} distinct video frames, the client captured ${frames}`);
    assert.ok(a >= chunks, `${id}: the parts hold ${a} distinct audio chunks, the client captured ${chunks}`);
  }
});

test('two nodes racing to continue one session: exactly one wins, the other connection is refused with the reason', { timeout: 60_000 }, async (t) => {
  const nats = await startNats(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const log = pino({ level: 'silent' });
  const nodes = await Promise.all(
    ['node-b', 'node-c'].map(async (name) => {
      const sessions = new ClusterSessions(name, log);
      t.after(() => sessions.close());
      sessions.use(nc);
      return inProcessServer(t, tempDir(t), { sessions });
    }),
  );
  // A session node-a left behind (its candidate was disconnected when node-a died).
  const kv = await nc.jetstream().views.kv(SESSIONS_BUCKET, { history: 1 });
  const none = { first_seq: -1, last_seq: -1, last_ts: null, messages: 0, samples: 0 };
  const entry = {
    candidate_id: 'racer', session_id: '20261127T120000Z-abcdef', owner: 'node-a', connected: false, started_at: new Date(Date.now() - 5_000).toISOString(),
    part: 1, parts: [{ part: 1, node: 'node-a', dir: '20261127T120000Z-abcdef' }],
    video: { codec: 'jpeg', width: 64, height: 48, fps: 10 }, audio: { codec: 'pcm_s16le', sampleRate: 16000, channels: 1 },
    checkpoint: { at_ms: 0, carried: { video: none, audio: none } },
  };
  await kv.put('racer', Buffer.from(JSON.stringify(entry)));

  const peers = await Promise.all(nodes.map((n) => WirePeer.connect(n.port)));
  for (const p of peers) p.hello('racer');
  const outcomes = await Promise.all(peers.map((p) => Promise.race([p.waitFor('welcome', 15_000), p.bye(15_000)])));
  const welcomed = outcomes.filter((m) => m.type === 'welcome');
  const refused = outcomes.filter((m) => m.type === 'bye');
  assert.equal(welcomed.length, 1, `exactly one node takes the session: ${JSON.stringify(outcomes)}`);
  assert.equal(refused.length, 1);
  const w = welcomed[0]!;
  assert.ok(w.type === 'welcome' && w.resumed && w.sessionId === entry.session_id, 'the winner continues the same session');
  const b = refused[0]!;
  assert.ok(b.type === 'bye' && b.reason === 'id_in_use', JSON.stringify(b));
  assert.match(b.text, /took over the session of racer a moment ago|racer is connected to node node-[bc]/);
  const owner = await waitForValue('the table to name the winner', async () => {
    const e = await kv.get('racer');
    const o = e ? (JSON.parse(Buffer.from(e.value).toString()) as { owner: string }).owner : undefined;
    return o === 'node-b' || o === 'node-c' ? o : undefined;
  });
  const winner = nodes[outcomes.indexOf(w)]!;
  assert.equal(winner.server.status().candidates[0]?.id, 'racer');
  assert.equal(owner, outcomes.indexOf(w) === 0 ? 'node-b' : 'node-c');
  for (const p of peers) p.destroy();
});

test('a node shut down cleanly (SIGTERM) hands its sessions over: they continue on the other node, nothing lost', { timeout: 120_000 }, async (t) => {
  const nats = await startNats(t);
  const names = ['node-a', 'node-b'];
  const nodes = await Promise.all(names.map((name) => startServer(t, tempDir(t), ['--detector', 'none', '--nats', nats.url, '--node', name])));
  await Promise.all(nodes.map((s) => s.waitForLog((l) => l.msg === 'joined the cluster')));
  const lb = await startHaproxy(t, names.map((name, i) => ({ name, port: nodes[i]!.port })));
  const clients = new Map<string, ClientRun>();
  for (const id of ['d1', 'd2', 'd3', 'd4']) clients.set(id, runVigil(t, clientArgs(lb.port, id, video('candidate-ok.mp4'), audio('speech-16k-mono.wav'), LIGHT)));
  const before = await waitForValue('four candidates streaming on two nodes', async () => {
    const s = await clusterStatus(t, nats.url);
    return s.candidates.length === 4 && s.candidates.every((c) => c.frames_received >= 10) ? s : undefined;
  }, { everyMs: 500 });
  const leaving = before.candidates.find((c) => c.id === 'd1')!.node;
  const moving = before.candidates.filter((c) => c.node === leaving).map((c) => c.id);
  assert.equal((await nodes[names.indexOf(leaving)]!.stop('SIGTERM')).code, 0);
  await Promise.all(moving.map((id) => clients.get(id)!.waitForLine(/^RESUMED session/, 30_000)));
  await waitForValue('the moved candidates streaming on the other node', async () => {
    const s = await clusterStatus(t, nats.url);
    return s.candidates.length === 4 && s.candidates.every((c) => c.node !== leaving && c.frames_received >= 10) ? s : undefined;
  }, { everyMs: 500 });
  for (const c of clients.values()) c.proc.kill('SIGINT');
  for (const [id, c] of clients) {
    const r = await c.done;
    assert.equal(r.code, 130, `${id}:\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /^(LOST|UNCONFIRMED|RECORDING FAILED)/m, `${id}:\n${r.stdout}`);
    const receipt = /^RECEIPT session \S+: (\d+) video frames, (\d+) audio chunks/m.exec(r.stdout);
    const sent = /sent (\d+) video frames and (\d+) audio chunks/.exec(r.stdout);
    assert.ok(receipt && sent, r.stdout);
    assert.deepEqual([receipt[1], receipt[2]], [sent[1], sent[2]], `${id}: the receipt covers everything sent`);
  }
  // The part left behind was finalised as a shutdown, not a crash.
  const dir = nodes[names.indexOf(leaving)]!.recordDir;
  const sid = before.candidates.find((c) => c.id === 'd1')!.session_id;
  assert.equal((JSON.parse(readFileSync(path.join(dir, 'd1', sid, 'session.json'), 'utf8')) as SessionRecord).ended, 'server_shutdown');
});
