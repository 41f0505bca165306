import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AdminSimulator } from '../bench/lib/admin-sim';
import type { CandidateStatus, EndedSession } from '../src/protocol';
import { startConsole } from './console-pty';
import { AdminClient } from '../src/admin/client';
import { MEDIA, clientArgs, runVigil, startServer, tempDir, video, waitUntil } from './helpers';

/**
 * The console's table, sort, reconnecting rows, ended sessions and preview depths in a real pty, against an admin
 * peer speaking the real protocol (bench/lib/admin-sim.ts) so that every figure on screen is known in advance.
 */

// Six candidates; cand-005 is in the resume window (the simulator gives it the open `disconnected` incident).
const FIGURES: Array<Partial<CandidateStatus>> = [
  { incident: null, face: 'ok', incidents: 0, incident_s: 0, connected_s: 100 },
  { incident: null, face: 'ok', incidents: 3, incident_s: 50, connected_s: 300 },
  { incident: null, face: 'ok', incidents: 1, incident_s: 10, connected_s: 200 },
  { incident: 'no_face', face: 'no_face', incidents: 1, incident_s: 3, connected_s: 50 },
  { incident: null, face: 'ok', incidents: 0, incident_s: 0, connected_s: 400 },
  { face: 'ok', incidents: 2, incident_s: 7, connected_s: 10 },
];
const ORDER = {
  'attention first': ['cand-005', 'cand-003', 'cand-001', 'cand-002', 'cand-000', 'cand-004'],
  'by id': ['cand-000', 'cand-001', 'cand-002', 'cand-003', 'cand-004', 'cand-005'],
  'longest connected first': ['cand-004', 'cand-001', 'cand-002', 'cand-000', 'cand-003', 'cand-005'],
};

function ended(id: string, how: string, kinds: Array<[string, number, number]>, writeErrors: number): EndedSession {
  const dir = `/rec/${id}/s-${id}`;
  return {
    id,
    session_id: `s-${id}`,
    dir,
    recording: `${dir}/recording.mkv`,
    incidents_file: `${dir}/incidents.jsonl`,
    started_at: '2026-11-27T09:00:00.000Z',
    ended_at: '2026-11-27T10:00:00.000Z',
    ended: how,
    declared_fps: 15,
    frames_lost: 0,
    audio_seconds_lost: 0,
    write_errors: writeErrors,
    incidents: kinds.map(([kind, start_s, end_s], i) => ({ id: i + 1, kind, start_s, end_s, frames: 1, peak_confidence: 1 })),
  };
}

async function simulator(t: { after(fn: () => Promise<void>): void }): Promise<{ sim: AdminSimulator; socket: string }> {
  const socket = path.join(tempDir(t as never), 'admin.sock');
  const sim = new AdminSimulator({
    socketPath: socket,
    candidates: 6,
    reconnecting: 1,
    eventsPerS: 5,
    previewJpeg: path.join(MEDIA, 'faces', 'grace-hopper.jpg'),
    // Scores by hand (src/report/priority.ts): recording_failed 10 + one failed write 12 = 22.0;
    // two multiple_faces of 30 s: 4 * (2 + 60/60 + 30/30) = 16.0; a clean client_bye 0.0.
    ended: [ended('clean', 'client_bye', [], 0), ended('crowd', 'client_bye', [['multiple_faces', 10, 40], ['multiple_faces', 100, 130]], 0), ended('broken', 'recording_failed', [], 1)],
  });
  FIGURES.forEach((f, i) => sim.overrides.set(i, f));
  await sim.listen();
  t.after(() => sim.close());
  return { sim, socket };
}

/** The ids in the table, top to bottom (table rows start with the id; event lines start with a time). */
const rowsOf = (screen: string): string[] => screen.split('\n').map((l) => /^.{0,3}(cand-\d{3})\s/.exec(l)?.[1]).filter((id): id is string => id !== undefined);

for (const [cols, rows] of [[80, 24], [200, 50]] as const) {
  test(`${cols}x${rows}: columns, s cycles the sort, a reconnecting row, e lists ended sessions by priority`, { timeout: 60_000 }, async (t) => {
    const { socket } = await simulator(t);
    const c = startConsole(t, socket, { cols, rows });
    await c.waitFor('the table', (s) => rowsOf(s).length === 6 && /Candidates: attention first \(s\)/.test(s));
    const head = c.lines().find((l) => /\bID\b/.test(l))!;
    assert.match(head, /ID\s+(ADDRESS\s+)?MODE\s+FACE\s+FPS\s+FPS LAST MINUTE\s+(KBPS\s+)?INC\s+INC S\s+INCIDENT\s+CONN/);
    assert.equal(/ADDRESS/.test(head), cols >= 110, 'the address only where there is room');

    // Attention first: open incidents (the reconnecting one, then no_face), then by incident seconds.
    assert.deepEqual(rowsOf(c.screen()), ORDER['attention first']);
    const line = (id: string): string => c.lines().find((l) => new RegExp(`^.{0,3}${id}\\s`).test(l))!;
    assert.match(line('cand-001'), /\s3\s+50\s+-\s/, 'INC 3, INC S 50, nothing open');
    assert.match(line('cand-003'), /\s1\s+3\s+no_face/);
    // The reconnecting session stays in the table, greyed, with its time left.
    assert.match(line('cand-005'), cols >= 110 ? /reconnecting 2\ds/ : /reconn 2\ds/);
    // Grey where the selection bar is not (it starts on the top row, this one).
    c.send('j');
    await c.waitFor('the selection on the second row', () => /cand-003/.test(c.selectedLine() ?? ''));
    const b = c.term.buffer.active;
    const y = c.lines().indexOf(line('cand-005'));
    const idCell = b.getLine(b.viewportY + y)!.getCell(line('cand-005').indexOf('cand-005'))!;
    assert.ok(idCell.isFgPalette() && idCell.getFgColor() === 8, `grey (palette 8), got ${idCell.getFgColor()}`);

    // The sparkline fills from 0 to the declared 15 fps: full blocks at 15, half at 7.5 (cand-002).
    await c.waitFor('sparklines with a few samples', (s) => /cand-000.*\u2588\u2588\u2588/.test(s) && /cand-002.*\u2584\u2584\u2584/.test(s));

    for (const label of ['by id', 'longest connected first', 'attention first'] as const) {
      c.send('s');
      await c.waitFor(`the order "${label}"`, (s) => s.includes(`Candidates: ${label} (s)`) && rowsOf(s).join() === ORDER[label].join());
    }

    // e: ended sessions, highest score first; Enter prints where the selected one's files are.
    c.send('e');
    await c.waitFor('the ended sessions', (s) => /Ended sessions/.test(s) && /22\.0\s+broken/.test(s));
    const order = c.lines().map((l) => /^\S*\s*(\d+\.\d)\s+(broken|crowd|clean)\b/.exec(l.replace(/^│/, ''))).filter((m) => m).map((m) => `${m![2]} ${m![1]}`);
    assert.deepEqual(order, ['broken 22.0', 'crowd 16.0', 'clean 0.0']);
    c.send('j');
    c.send('\r');
    await c.waitFor('where crowd\'s files are', (s) => s.includes('/rec/crowd/s-crowd/recording.mkv') && /report entry/.test(s));
    c.send('\x1b');
    await c.waitFor('the table again, and the log keeps the paths', (s) => /Candidates:/.test(s) && s.includes('/rec/crowd/s-crowd/recording.mkv'));
    c.send('q');
    assert.equal(await c.exited, 0);
  });
}

for (const [depth, env] of [
  ['8 colours (tmux: TERM=screen)', { TERM: 'screen', COLORTERM: '' }],
  ['truecolor', { COLORTERM: 'truecolor' }],
] as const) {
  test(`the preview at ${depth}`, { timeout: 60_000 }, async (t) => {
    const { socket } = await simulator(t);
    const c = startConsole(t, socket, { cols: 100, rows: 40, env });
    await c.waitFor('the table', (s) => rowsOf(s).length === 6);
    c.send('\r');
    await c.waitFor('the preview', (s) => /Preview cand-005/.test(s) && /512x600/.test(s));
    const b = c.term.buffer.active;
    const count = async (pred: (cell: NonNullable<ReturnType<NonNullable<ReturnType<typeof b.getLine>>['getCell']>>) => boolean): Promise<number> => {
      await c.current();
      let n = 0;
      for (let y = 3; y < 39; y++) for (let x = 1; x < 99; x++) {
        const cell = b.getLine(b.viewportY + y)?.getCell(x);
        if (cell && pred(cell)) n++;
      }
      return n;
    };
    if (depth === 'truecolor') {
      let n = 0;
      // Written after blessed's own (256-colour) draw of the same cells: wait for that second pass.
      await waitUntil('half-block cells in 24-bit colour', async () => (n = await count((cell) => cell.isFgRGB() && cell.isBgRGB() && cell.getChars() === '\u2580')) >= 1500, { seen: () => n });
      assert.match(c.screen(), /24-bit colour/);
    } else {
      assert.match(c.screen(), /8 colours: grayscale/);
      const shades = await count((cell) => ['\u2591', '\u2592', '\u2593', '\u2588'].includes(cell.getChars()));
      const palette = await count((cell) => cell.getChars() === '\u2580');
      assert.ok(shades >= 800, `${shades} shade cells`);
      assert.equal(palette, 0, 'no half blocks in colour');
    }
    c.send('\x1b');
    await c.waitFor('the table again', (s) => /Candidates:/.test(s) && !/Preview/.test(s));
    // The picture is gone with the overlay, also the cells drawn past blessed (truecolor).
    assert.equal(await count((cell) => cell.isFgRGB() || ['\u2591', '\u2592', '\u2593'].includes(cell.getChars())), 0);
    c.send('q');
    assert.equal(await c.exited, 0);
  });
}

test('with a real server: a killed client stays as a grey reconnecting row until its resume window ends, then e lists it with its files', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, ['--resume-window', '8']);
  const carol = runVigil(t, clientArgs(server.port, 'carol', video('candidate-ok.mp4'), null, ['--loop']));
  await carol.waitForLine(/^WELCOME/);
  const admin = await AdminClient.connect(server.adminSocket);
  t.after(() => admin.close());
  const c = startConsole(t, server.adminSocket, { cols: 120, rows: 40 });
  await c.waitFor('carol streaming', (s) => /^.{0,3}carol\s+127\.0\.0\.1:\d+\s+both\s+ok\b/m.test(s));
  const live = (await admin.status()).candidates.find((x) => x.id === 'carol')!;
  assert.equal(live.declared_fps, 15, 'the fps the client declared');
  assert.equal(typeof live.incident_s, 'number');

  carol.proc.kill('SIGKILL');
  const row = await c.waitFor('carol reconnecting', (s) => /^.{0,3}carol\s.*reconnecting [1-8]s/m.test(s));
  assert.match(row, /reconnecting 1/, 'the header counts her');
  const waiting = (await admin.status()).reconnecting ?? [];
  assert.deepEqual(waiting.map((x) => x.id), ['carol']);
  assert.ok(waiting[0]!.resume_left_s > 0 && waiting[0]!.resume_left_s <= 8, `${waiting[0]!.resume_left_s} s left`);
  assert.equal(waiting[0]!.incident, 'disconnected');

  // The window ends: the session is finalised, leaves the table and is listed under e.
  await c.waitFor('carol gone from the table', (s) => /carol left/.test(s) && !/^.{0,3}carol\s/m.test(s));
  c.send('e');
  await c.waitFor('carol among the ended sessions', (s) => /Ended sessions/.test(s) && /\d+\.\d\s+carol\s+disconnected/.test(s));
  c.send('\r');
  const ended = (await admin.ended()).find((x) => x.id === 'carol')!;
  await c.waitFor('where carol\'s recording is', (s) => s.includes(`recording ${ended.recording}`.slice(0, 100)));
  assert.ok(existsSync(ended.recording), 'the path printed is the recording on disk');
  assert.ok(ended.incidents.some((i) => i.kind === 'disconnected' && i.end_s !== null), 'her closed disconnected incident');
  c.send('q');
  assert.equal(await c.exited, 0);
});

test('80x24 with 40 candidates: the table scrolls with the selection', { timeout: 60_000 }, async (t) => {
  const socket = path.join(tempDir(t), 'admin.sock');
  const sim = new AdminSimulator({ socketPath: socket, candidates: 40, eventsPerS: 0 });
  await sim.listen();
  t.after(() => sim.close());
  const c = startConsole(t, socket, { cols: 80, rows: 24 });
  await c.waitFor('the table', (s) => rowsOf(s).length >= 5);
  const shown = rowsOf(c.screen()).length;
  assert.ok(shown < 40, `${shown} rows fit`);
  c.send('s');
  await c.waitFor('by id', (s) => /Candidates: by id/.test(s));
  c.send('k'.repeat(40));
  await c.waitFor('the first row selected', (s) => /cand-000/.test(c.selectedLine() ?? '') && rowsOf(s)[0] === 'cand-000');
  c.send('j'.repeat(25));
  await c.waitFor('cand-025 selected and in view, at the bottom', (s) => /cand-025/.test(c.selectedLine() ?? '') && rowsOf(s).at(-1) === 'cand-025');
  assert.equal(rowsOf(c.screen()).length, shown, 'as many rows as fit, no more');
  c.send('k'.repeat(25));
  await c.waitFor('back at the top', (s) => /cand-000/.test(c.selectedLine() ?? '') && rowsOf(s)[0] === 'cand-000');
  c.send('q');
  assert.equal(await c.exited, 0);
});

for (const [cols, rows] of [[80, 24], [200, 50]] as const) {
  test(`${cols}x${rows}: the filter, a/v/b, K, ?, p and w send what they say; the console reconnects when its server comes back`, { timeout: 60_000 }, async (t) => {
    const { sim, socket } = await simulator(t);
    const c = startConsole(t, socket, { cols, rows, env: { DISPLAY: '' } });
    await c.waitFor('the table', (s) => rowsOf(s).length === 6);
    const asked = (type: string) => sim.requests.filter((r) => r.type === type);

    // / opens the filter prompt; typing and Enter keep the rows whose id contains it; Esc clears it.
    // The prompt takes the keys once it is up (the footer gives way to it); a person does not type faster.
    const prompt = async (): Promise<string> => c.waitFor('the filter prompt', (s) => !/q quit/.test(s));
    c.send('/');
    await prompt();
    c.send('002\r');
    await c.waitFor('only cand-002', (s) => rowsOf(s).join() === 'cand-002' && /filter "002"/.test(s));
    c.send('/');
    await prompt();
    c.send('zzz\r'); // the prompt starts from the current filter
    await c.waitFor('no match', (s) => /no candidate matches "002zzz"/.test(s) && rowsOf(s).length === 0);
    c.send('\x1b');
    await c.waitFor('all rows again', (s) => rowsOf(s).length === 6 && !/filter "/.test(s));

    // a / v / b switch the selected candidate's mode; K asks, y kicks.
    c.send('s'); // by id, so the selection is predictable: k to the top is cand-000
    c.send('kkkkkk');
    await c.waitFor('cand-000 selected', () => /cand-000/.test(c.selectedLine() ?? ''));
    for (const [key, mode] of [['v', 'video'], ['a', 'audio'], ['b', 'both']] as const) {
      c.send(key);
      await waitUntil(`set_mode ${mode}`, () => asked('set_mode').some((r) => r.type === 'set_mode' && r.id === 'cand-000' && r.mode === mode));
    }
    c.send('K');
    await c.waitFor('the kick question', (s) => /Kick cand-000\?/.test(s));
    c.send('y');
    await waitUntil('the kick', () => asked('kick').some((r) => r.type === 'kick' && r.id === 'cand-000'));
    c.send('?');
    await c.waitFor('help', (s) => /vigil console - keys/.test(s) && /ended sessions by review priority/.test(s));
    c.send(' ');
    await c.waitFor('help closed', (s) => !/vigil console - keys/.test(s));
    c.send('p');
    await waitUntil('a preview request', () => asked('preview').some((r) => r.type === 'preview' && r.id === 'cand-000'));
    await c.waitFor('the preview', (s) => /Preview cand-000/.test(s));
    c.send('p');
    await waitUntil('preview_stop', () => asked('preview_stop').length > 0);
    c.send('w');
    await c.waitFor('no desktop for w', (s) => /no desktop here/.test(s));

    // The server goes away: the header says so; it comes back on the same socket: the console is connected again.
    await sim.close();
    await c.waitFor('DISCONNECTED', (s) => /DISCONNECTED/.test(s) && /lost the server/.test(s));
    const again = new AdminSimulator({ socketPath: socket, candidates: 3, eventsPerS: 0 });
    await again.listen();
    t.after(() => again.close());
    await c.waitFor('reconnected with the new server\'s three candidates', (s) => !/DISCONNECTED/.test(s) && rowsOf(s).length === 3, 15_000);
    c.send('q');
    assert.equal(await c.exited, 0);
  });
}
