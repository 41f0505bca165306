import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { Terminal } from '@xterm/headless';
import * as pty from 'node-pty';
import { LineSplitter, encodeAdmin, parseAdminRequest, type ServerEvent, type ServerStatus } from '../src/protocol';
import { VIGIL, tempDir, waitUntil } from './helpers';

const BURST = 300;

/**
 * The console against a scripted admin peer (a Unix socket speaking the admin protocol), because a burst of
 * hundreds of events at a chosen moment is what this test needs and a real server does not produce on cue.
 */
test('a burst of events costs the console a few status requests, not one per event', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, 'admin.sock');
  let statusRequests = 0;
  let candidates: ServerStatus['candidates'] = [];
  let subscriber: net.Socket | null = null;
  const server = net.createServer((socket) => {
    const lines = new LineSplitter();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        const req = parseAdminRequest(line);
        if (req.type === 'status') {
          statusRequests++;
          const status: ServerStatus = { version: 'test', listen: '127.0.0.1:1', record_dir: dir, started_at: new Date().toISOString(), uptime_s: 1, candidates, drops: {}, detection: { state: 'off' }, recording_failures: 0 };
          socket.write(encodeAdmin({ type: 'status', req: req.req, status }));
        } else {
          if (req.type === 'subscribe') subscriber = socket;
          socket.write(encodeAdmin({ type: 'ok', req: req.req }));
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(() => server.close());

  const term = new Terminal({ cols: 120, rows: 40, allowProposedApi: true });
  const proc = pty.spawn(VIGIL, ['console', '--admin-socket', socketPath], { cols: 120, rows: 40, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string> });
  let exited = false;
  proc.onExit(() => (exited = true));
  t.after(() => {
    if (!exited) proc.kill('SIGKILL');
    term.dispose();
  });
  proc.onData((d) => term.write(d));
  const screen = async (): Promise<string> => {
    await new Promise<void>((r) => term.write('', r)); // let pending output reach the emulator first
    const b = term.buffer.active;
    return Array.from({ length: 40 }, (_, y) => b.getLine(b.viewportY + y)?.translateToString(true) ?? '').join('\n');
  };
  await waitUntil('the console to subscribe and draw its first status', async () => subscriber !== null && /candidates 0/.test(await screen()));

  const before = statusRequests;
  const started = Date.now();
  const at = new Date().toISOString();
  const burst = Array.from({ length: BURST }, (_, i): ServerEvent => ({ kind: 'candidate_joined', at, id: `c${i}`, session_id: `s${i}`, address: `10.0.0.1:${i}`, mode: 'both' }));
  subscriber!.write(burst.map((event) => encodeAdmin({ type: 'event', event })).join(''));
  await waitUntil(`the last of ${BURST} events in the console's log`, async () => new RegExp(`c${BURST - 1} joined from 10\\.0\\.0\\.1:${BURST - 1}`).test(await screen()), {
    seen: () => term.buffer.active.getLine(term.buffer.active.viewportY + 38)?.translateToString(true),
  });
  const elapsedMs = Date.now() - started;
  const asked = statusRequests - before;
  // One refresh per 100 ms window of events plus the 1 s poll, whatever the speed of this machine.
  const bound = 2 + Math.ceil(elapsedMs / 100) + Math.ceil(elapsedMs / 1000);
  assert.ok(asked <= bound && asked < BURST, `${asked} status requests for ${BURST} events over ${elapsedMs} ms (bound ${bound})`);

  // The coalesced refresh still happens: the table catches up with the state after the burst.
  candidates = [{ id: 'zed', session_id: 's', address: '10.0.0.2:1', mode: 'both', connected_s: 1, video_fps: 15, audio_kbps: 256, bytes_in: 1, frames_received: 1, frames_recorded: 1, audio_s: 1, face: 'ok', faces: 1, incident: null, incidents: 0, incident_s: 0, declared_fps: 15, speech: false, write_error: null, analyses: 0, analysis_gated: 0, analysis_quick: 0, analysis_skipped: 0, analysis_failed: 0, analysis_rate: 0, verdict_latency_ms: null, change_latency_ms: null }];
  subscriber!.write(encodeAdmin({ type: 'event', event: { kind: 'candidate_joined', at, id: 'zed', session_id: 's', address: '10.0.0.2:1', mode: 'both' } }));
  await waitUntil('the table to show zed after one more event', async () => /^.{0,3}zed\s+10\.0\.0\.2:1\s+both\s+ok/m.test(await screen()));
  proc.write('q');
  await waitUntil('the console to quit', () => exited);
});
