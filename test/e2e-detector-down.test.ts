import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../src/admin/client';
import { PROTOCOL_VERSION, type Message, type ServerEvent, type ServerStatus } from '../src/protocol';
import { startConsole } from './console-pty';
import { WirePeer } from './wire-peer';
import { clientArgs, recordingFacts, runVigil, sessionDirOf, startServer, tempDir, video, waitForValue } from './helpers';

/** The stand-in detector process (test/fixtures/detector-worker.ts), put in place by VIGIL_DETECTOR_WORKER. */
const FIXTURE = path.join(__dirname, 'fixtures', 'detector-worker.js');

/** A raw candidate whose HELLO says it understands ALERT; it PINGs so that it outlives the idle timeout. */
async function alertable(t: { after(fn: () => void): void }, port: number, id: string): Promise<WirePeer> {
  const p = await WirePeer.connect(port);
  const hello: Message = { type: 'hello', version: PROTOCOL_VERSION, candidateId: id, token: '', clientVersion: 'test', video: { codec: 'jpeg', width: 320, height: 240, fps: 15 }, audio: null, accepts: ['alert'] };
  p.send(hello);
  await p.waitFor('welcome');
  const ping = setInterval(() => p.send({ type: 'ping', nonce: 1 }), 1000);
  t.after(() => {
    clearInterval(ping);
    p.destroy();
  });
  return p;
}

/** The console in a pseudo-terminal, replayed into a headless xterm; returns a function reading its screen. */
function consoleScreen(t: { after(fn: () => void): void }, adminSocket: string): () => Promise<string> {
  return startConsole(t, adminSocket, { cols: 140, rows: 40 }).current;
}

const alerts = (p: WirePeer) => p.received.filter((m) => m.type === 'alert');

const until = <T>(what: string, get: () => T | undefined | Promise<T | undefined>): Promise<T> => waitForValue(what, get, { timeoutMs: 20_000 });

test('a detector that crashes on every frame: detection is reported down, faces unknown, every frame still recorded; it comes back', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const modeFile = path.join(dir, 'detector-mode');
  writeFileSync(modeFile, 'ok');
  const server = await startServer(t, dir, ['--detector', 'dnn', '--analyze-fps', '5'], { VIGIL_DETECTOR_WORKER: FIXTURE, VIGIL_FIXTURE_MODE_FILE: modeFile });
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const events: ServerEvent[] = [];
  await admin.subscribe((e) => events.push(e));
  const candidate = (s: ServerStatus) => s.candidates.find((c) => c.id === 'alice');

  const client = runVigil(t, clientArgs(server.port, 'alice', video('candidate-ok.mp4'), null, ['--width', '320', '--height', '240', '--loop']));
  await client.waitForLine(/^WELCOME/);
  await until('a face verdict from the working detector', async () => (candidate(await admin.status())?.face === 'ok' ? true : undefined));
  assert.deepEqual((await admin.status()).detection, { state: 'up' });

  const screen = consoleScreen(t, server.adminSocket);
  await until('the console showing alice', async () => (/alice\s.*\bok\b/.test(await screen()) ? true : undefined));
  assert.doesNotMatch(await screen(), /detection unavailable/);
  const early = await alertable(t, server.port, 'carol');
  assert.deepEqual(alerts(early), []);

  writeFileSync(modeFile, 'crash');
  const down = await until('detector_down', () => events.find((e) => e.kind === 'detector_down'));
  // Candidates are told: those connected when it went down, and one who joins during the outage, once each.
  const during = await alertable(t, server.port, 'dave');
  const alertEarly = await early.waitFor('alert');
  const alertDuring = await during.waitFor('alert');
  for (const a of [alertEarly, alertDuring]) {
    assert.equal(a.code, 'detector_down');
    assert.match(a.text, /^face checks are paused on the server \(the detector process died .*\); your recording continues$/);
  }
  assert.ok(down.kind === 'detector_down' && /died \(exit 3: fixture: crashing on this frame\)/.test(down.reason), JSON.stringify(down));
  const st = await admin.status();
  assert.equal(st.detection.state, 'down');
  assert.equal(candidate(st)?.face, 'unknown', 'no stale verdict while detection is down');
  assert.ok(events.some((e) => e.kind === 'face_status' && e.id === 'alice' && e.face === 'unknown'));
  // The console: the header says so, the event log has the outage, alice's face is unknown.
  await until('the console to show the outage', async () => {
    const sc = await screen();
    return /^ vigil .*detection unavailable/m.test(sc) && /detection unavailable: the detector process died/.test(sc) && /alice\s.*\bunknown\b/.test(sc) ? true : undefined;
  });
  const text = (await runVigil(t, ['status', '--admin-socket', server.adminSocket]).done).stdout;
  assert.match(text, /detection unavailable since .*: the detector process died/);
  const json = JSON.parse((await runVigil(t, ['status', '--admin-socket', server.adminSocket, '--json']).done).stdout) as { server: ServerStatus };
  assert.equal(json.server.detection.state, 'down');
  // Loud in the log: the outage at error, and every process death at error.
  await server.waitForLog((l) => l.level === 50 && /^face detection unavailable/.test(l.msg));
  assert.ok(server.logs.filter((l) => l.level === 50 && /^detector process died/.test(l.msg)).length >= 3);
  // While down, frames are refused at once and quietly: not one warning per frame.
  const perFrameWarnings = server.logs.filter((l) => l.msg === 'frame analysis failed' && /unavailable/.test(JSON.stringify(l['err'] ?? ''))).length;
  assert.equal(perFrameWarnings, 0);

  writeFileSync(modeFile, 'ok');
  await until('detector_up', () => events.find((e) => e.kind === 'detector_up'));
  await until('face ok again', async () => (candidate(await admin.status())?.face === 'ok' ? true : undefined));
  await until('the console to show detection back', async () => {
    const sc = await screen();
    return !/^ vigil .*detection unavailable/m.test(sc) && /detection available again after/.test(sc) ? true : undefined;
  });
  assert.deepEqual((await admin.status()).detection, { state: 'up' });
  assert.equal(events.filter((e) => e.kind === 'detector_down').length, 1, 'down announced once');
  assert.equal(alerts(early).length, 1, 'told once');
  assert.equal(alerts(during).length, 1, 'told once');

  // The recording never depended on detection: every frame the client sent is in the file.
  client.proc.kill('SIGINT');
  const res = await client.done;
  assert.equal(res.code, 130, res.stderr);
  const sent = Number(/sent (\d+) video frames/.exec(res.stdout)?.[1]);
  assert.ok(sent >= 10, res.stdout);
  await server.waitForLog((l) => l.msg === 'recording finalised');
  const facts = await recordingFacts(path.join(sessionDirOf(dir, 'alice'), 'recording.mkv'));
  assert.equal(facts.video?.packets, sent);
});
