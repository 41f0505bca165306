/**
 * bench/console: the proctor's console at 200 candidates, in a real pseudo-terminal, against an admin-socket peer
 * speaking the real protocol (bench/lib/admin-sim.ts: status every second, 20 face events a second, 10 sessions in
 * the resume window). Per terminal size: how long a key takes to show on the screen (p50/p99), redraws a second
 * and the console's CPU, idle and while keys are pressed. Prints a table and writes bench/results/console.md.
 *
 *   node dist/bench/console.js [--candidates 200] [--keys 60] [--idle-seconds 10]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Terminal } from '@xterm/headless';
import * as pty from 'node-pty';
import { AdminSimulator } from './lib/admin-sim';
import { cpuSeconds } from './lib/proc';
import { REPO, fmt, intArg, machineInfo, machineLine, table, writeResult } from './lib/report';

const CANDIDATES = intArg('--candidates', 200);
const KEYS = intArg('--keys', 60);
const IDLE_S = intArg('--idle-seconds', 10);
const VIGIL = path.join(REPO, 'bin', 'vigil');
const machine = machineInfo();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Row {
  size: string;
  p50: number;
  p99: number;
  max: number;
  idleRedraws: number;
  keyRedraws: number;
  maxPerS: number;
  idleCpu: number;
  keyCpu: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

async function measure(cols: number, rows: number): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-bench-console-'));
  const sim = new AdminSimulator({ socketPath: path.join(dir, 'admin.sock'), candidates: CANDIDATES, reconnecting: 10, eventsPerS: 20 });
  await sim.listen();
  const term = new Terminal({ cols, rows, allowProposedApi: true });
  const proc = pty.spawn(VIGIL, ['console', '--admin-socket', path.join(dir, 'admin.sock')], { cols, rows, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string> });
  // A redraw that changed anything is one write framed by save/restore cursor (blessed's draw); counted here.
  let draws = 0;
  const drawTimes: number[] = [];
  let tail = '';
  const watchers = new Set<() => void>();
  proc.onData((d) => {
    const n = (tail + d).split('\x1b7').length - 1;
    draws += n;
    for (let k = 0; k < n; k++) drawTimes.push(performance.now());
    tail = d.slice(-1);
    term.write(d, () => watchers.forEach((w) => w()));
  });
  const text = (): string => {
    const b = term.buffer.active;
    return Array.from({ length: rows }, (_, y) => b.getLine(b.viewportY + y)?.translateToString(true) ?? '').join('\n');
  };
  /** Resolves with the time at which the screen first satisfies `pred`. */
  const until = (pred: () => boolean, timeoutMs = 10_000): Promise<number> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(performance.now());
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`the console did not answer in ${timeoutMs} ms; screen:\n${text()}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    });
  try {
    await until(() => /cand-\d{3}/.test(text()) && /reconnecting 10/.test(text()), 30_000);
    await sleep(3000); // settle: the first polls and the sparklines' first samples
    drawTimes.length = 0;

    // Idle: status polls and events only.
    let cpu0 = cpuSeconds(proc.pid)!;
    let d0 = draws;
    let t0 = performance.now();
    await sleep(IDLE_S * 1000);
    const idleS = (performance.now() - t0) / 1000;
    const idleCpu = ((cpuSeconds(proc.pid)! - cpu0) / idleS) * 100;
    const idleRedraws = (draws - d0) / idleS;

    // Keys: alternately `s` (the order, named in the table's label) and j/k (the selection bar moves), a few a second.
    const latencies: number[] = [];
    const labels = ['by id', 'longest connected first', 'attention first'];
    /** The id on the row under the selection bar (blessed's blue background), or null. */
    const selectedRow = (): string | null => {
      const b = term.buffer.active;
      for (let y = 0; y < rows; y++) {
        const line = b.getLine(b.viewportY + y);
        const c = line?.getCell(3);
        const id = /cand-\d{3}/.exec(line?.translateToString(true) ?? '')?.[0];
        if (c && c.isBgPalette() && c.getBgColor() === 4 && id) return id;
      }
      return null;
    };
    cpu0 = cpuSeconds(proc.pid)!;
    d0 = draws;
    t0 = performance.now();
    for (let k = 0; k < KEYS; k++) {
      let pred: () => boolean;
      let key: string;
      if (k % 2 === 0) {
        const label = labels[(k / 2) % labels.length]!;
        key = 's';
        pred = () => text().includes(`Candidates: ${label}`);
      } else {
        const before = selectedRow();
        key = Math.floor(k / 2) % 4 < 2 ? 'j' : 'k';
        pred = () => {
          const now = selectedRow();
          return now !== null && now !== before;
        };
      }
      const sent = performance.now();
      proc.write(key);
      latencies.push((await until(pred)) - sent);
      await sleep(150 + Math.random() * 200);
    }
    const keyS = (performance.now() - t0) / 1000;
    const keyCpu = ((cpuSeconds(proc.pid)! - cpu0) / keyS) * 100;
    const keyRedraws = (draws - d0) / keyS;
    // The most redraws that reached the terminal within any one second of the whole run (after the first screen).
    let maxPerS = 0;
    for (let a = 0, b = 0; b < drawTimes.length; b++) {
      while (drawTimes[b]! - drawTimes[a]! >= 1000) a++;
      maxPerS = Math.max(maxPerS, b - a + 1);
    }
    latencies.sort((a, b) => a - b);
    return { size: `${cols}x${rows}`, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies[latencies.length - 1]!, idleRedraws, keyRedraws, maxPerS, idleCpu, keyCpu };
  } finally {
    proc.write('q');
    await Promise.race([new Promise<void>((r) => proc.onExit(() => r())), sleep(3000)]);
    proc.kill('SIGKILL');
    term.dispose();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const [c, r] of [[80, 24], [200, 50]] as const) rows.push(await measure(c, r));
  const header = ['terminal', 'key p50 ms', 'key p99 ms', 'key max ms', 'redraws/s idle', 'redraws/s keys', 'most redraws in 1 s', 'CPU % idle', 'CPU % keys'];
  const body = table(
    header,
    rows.map((r) => [r.size, fmt(r.p50), fmt(r.p99), fmt(r.max), fmt(r.idleRedraws, 1), fmt(r.keyRedraws, 1), r.maxPerS, fmt(r.idleCpu, 1), fmt(r.keyCpu, 1)]),
    [false, true, true, true, true, true, true, true, true],
  );
  console.log(`bench/console: ${machineLine(machine)}`);
  console.log(body);
  writeResult(
    'console',
    machine,
    `\`vigil console\` in a real pseudo-terminal (node-pty, its output replayed into a headless xterm) against an admin-socket peer ` +
      `speaking the real protocol with ${CANDIDATES} candidates (10 of them in the resume window), a status poll a second and 20 face events a second. ` +
      `Idle: ${IDLE_S} s without keys. Keys: ${KEYS} presses 150-350 ms apart, alternately \`s\` (until the table's label names the new order) ` +
      `and \`j\`/\`k\` (until the selection bar has moved); latency is from writing the key to the pty to the change on the emulated screen. ` +
      `A redraw is one screen update blessed wrote; "most redraws in 1 s" is the highest count in any sliding one-second window after the first screen. ` +
      `CPU is the console process's user + system time (100 % is one core). The latencies include the wait for a core: read them with the load average above ` +
      `(2 cores; above about 3, other programs held the CPU the console and this bench's terminal emulator needed).\n\n${body}`,
  );
}

main().catch((err: unknown) => {
  console.error(`bench/console: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
