import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Terminal } from '@xterm/headless';
import * as pty from 'node-pty';
import { fillDisk, smallDisk } from './disk';
import { VIGIL, clientArgs, runVigil, sleep, startServer, video } from './helpers';

const COLS = 120;
const ROWS = 30;

test('the console shows a candidate whose recording failed in red, with the failure in its event log', { timeout: 60_000 }, async (t) => {
  const disk = smallDisk(t, 1024 * 1024);
  if (!disk) return;
  const server = await startServer(t, disk);
  const term = new Terminal({ cols: COLS, rows: ROWS, allowProposedApi: true });
  const proc = pty.spawn(VIGIL, ['console', '--admin-socket', server.adminSocket], { name: 'xterm-256color', cols: COLS, rows: ROWS, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string> });
  let exited = false;
  proc.onExit(() => (exited = true));
  proc.onData((d) => term.write(d));
  t.after(() => {
    if (!exited) proc.kill('SIGKILL');
    term.dispose();
  });
  const lines = (): string[] => Array.from({ length: ROWS }, (_, y) => term.buffer.active.getLine(term.buffer.active.viewportY + y)?.translateToString(true) ?? '');
  const waitFor = async (what: string, pred: (l: string[]) => boolean): Promise<string[]> => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      await new Promise<void>((r) => term.write('', r));
      if (pred(lines())) return lines();
      await sleep(100);
    }
    throw new Error(`the console never showed ${what}; screen:\n${lines().join('\n')}`);
  };

  const ok = runVigil(t, clientArgs(server.port, 'okay', video('candidate-ok.mp4'), null, ['--width', '160', '--height', '120', '--loop']));
  await ok.waitForLine(/^WELCOME/);
  fillDisk(disk);
  await waitFor('the failure in the event log', (l) => l.some((x) => /okay RECORDING FAILED recording\.mkv ENOSPC: cannot/.test(x)));
  const screen = await waitFor('the row marked', (l) => l.some((x) => /okay\s.*REC FAILED/.test(x)));
  const y = screen.findIndex((x) => /okay\s.*REC FAILED/.test(x));
  const line = term.buffer.active.getLine(term.buffer.active.viewportY + y)!;
  const x = screen[y]!.indexOf('okay');
  const cell = line.getCell(x)!;
  // blessed's red is palette colour 1 (or 9, bright); the row is selected, so this is under the selection bar too.
  assert.ok(cell.isFgPalette() && [1, 9].includes(cell.getFgColor()), `the id is drawn in red (fg ${cell.getFgColor()})`);
  assert.ok(screen.some((l) => /recording failures \d+/.test(l)), 'the header counts the failures');
  proc.write('q');
});
