import { Terminal } from '@xterm/headless';
import * as pty from 'node-pty';
import { VIGIL, sleep } from './helpers';

/** The console in a real pseudo-terminal, its output replayed into a headless xterm: what a person would see. */
export function startConsole(
  t: { after(fn: () => void): void },
  adminSocket: string,
  { cols: COLS, rows: ROWS, env = {} }: { cols: number; rows: number; env?: Record<string, string> } = { cols: 120, rows: 40 },
  extra: string[] = [],
) {
  const term = new Terminal({ cols: COLS, rows: ROWS, allowProposedApi: true });
  const proc = pty.spawn(VIGIL, ['console', '--admin-socket', adminSocket, ...extra], {
    name: env['TERM'] ?? 'xterm-256color',
    cols: COLS,
    rows: ROWS,
    env: { ...process.env, TERM: 'xterm-256color', ...env } as Record<string, string>,
  });
  let exitCode: number | null = null;
  const exited = new Promise<number>((resolve) =>
    proc.onExit(({ exitCode: code }) => {
      exitCode = code;
      resolve(code);
    }),
  );
  proc.onData((d) => term.write(d));
  t.after(() => {
    if (exitCode === null) proc.kill('SIGKILL');
    term.dispose();
  });
  const lines = (): string[] => {
    const b = term.buffer.active;
    return Array.from({ length: ROWS }, (_, y) => b.getLine(b.viewportY + y)?.translateToString(true) ?? '');
  };
  const screen = (): string => lines().join('\n');
  /** The screen once pending output has reached the emulator. */
  const current = async (): Promise<string> => {
    await new Promise<void>((r) => term.write('', r));
    return screen();
  };
  const waitFor = async (what: string, pred: (s: string) => boolean, timeoutMs = 30_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      // Let pending writes reach the emulator before reading it.
      await new Promise<void>((r) => term.write('', r));
      const s = screen();
      if (pred(s)) return s;
      await sleep(100);
    }
    throw new Error(`the console never showed ${what}; screen:\n${screen()}`);
  };
  /** Cells drawn with a 256-colour background, and a fingerprint of their colours. */
  const colouredCells = (): { count: number; fingerprint: string } => {
    const b = term.buffer.active;
    let count = 0;
    let fp = '';
    for (let y = 0; y < ROWS; y++) {
      const line = b.getLine(b.viewportY + y);
      for (let x = 0; x < COLS && line; x++) {
        const c = line.getCell(x);
        if (c && c.isBgPalette() && c.getBgColor() >= 16 && c.getChars() === '\u2580') {
          count++;
          fp += `${c.getFgColor()},${c.getBgColor()};`;
        }
      }
    }
    return { count, fingerprint: fp };
  };
  /** The text of the row under the table's selection bar (blessed's blue background), or null. */
  const selectedLine = (): string | null => {
    const b = term.buffer.active;
    for (let y = 1; y < ROWS; y++) { // row 0 is the header bar, blue too
      const line = b.getLine(b.viewportY + y);
      const c = line?.getCell(3);
      if (line && c && c.isBgPalette() && c.getBgColor() === 4) return line.translateToString(true);
    }
    return null;
  };
  return { proc, term, lines, screen, current, waitFor, colouredCells, selectedLine, exited, send: (keys: string) => proc.write(keys) };
}

