import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startConsole } from './console-pty';
import { fillDisk, smallDisk } from './disk';
import { clientArgs, runVigil, startServer, video } from './helpers';

const COLS = 120;
const ROWS = 30;

test('the console shows a candidate whose recording failed in red, with the failure in its event log', { timeout: 60_000 }, async (t) => {
  const disk = smallDisk(t, 1024 * 1024);
  if (!disk) return;
  const server = await startServer(t, disk);
  const c = startConsole(t, server.adminSocket, { cols: COLS, rows: ROWS });
  const waitFor = async (what: string, pred: (l: string[]) => boolean): Promise<string[]> => {
    await c.waitFor(what, () => pred(c.lines()));
    return c.lines();
  };

  const ok = runVigil(t, clientArgs(server.port, 'okay', video('candidate-ok.mp4'), null, ['--width', '160', '--height', '120', '--loop']));
  await ok.waitForLine(/^WELCOME/);
  fillDisk(disk);
  // The recording's failure, whether or not the periodic session.json rewrite met the full disk first.
  await waitFor('the failure in the event log', (l) => l.some((x) => /okay RECORDING FAILED recording\.mkv ENOSPC: cannot/.test(x)));
  const screen = await waitFor('the row marked', (l) => l.some((x) => /okay\s.*REC FAILED/.test(x)));
  const y = screen.findIndex((x) => /okay\s.*REC FAILED/.test(x));
  const line = c.term.buffer.active.getLine(c.term.buffer.active.viewportY + y)!;
  const x = screen[y]!.indexOf('okay');
  const cell = line.getCell(x)!;
  // blessed's red is palette colour 1 (or 9, bright); the row is selected, so this is under the selection bar too.
  assert.ok(cell.isFgPalette() && [1, 9].includes(cell.getFgColor()), `the id is drawn in red (fg ${cell.getFgColor()})`);
  assert.ok(screen.some((l) => /recording failures \d+/.test(l)), 'the header counts the failures');
  c.send('q');
});
