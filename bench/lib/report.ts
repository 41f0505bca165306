/**
 * What every bench writes besides its console output: a markdown section (a line on the machine it ran on, then
 * its tables) in bench/results/NAME.md, which `node dist/bench/readme.js` copies into README.md between
 * `<!-- bench:NAME -->` markers. Tables in the README therefore always come from a run of the code.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, release, totalmem } from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const MEDIA = process.env['VIGIL_MEDIA'] ?? path.resolve(REPO, '..', 'shared', 'media');
export const RESULTS_DIR = path.join(REPO, 'bench', 'results');

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  node: string;
  date: string;
  /** 1-minute load average when the bench started: above zero means others were using the machine too. */
  load: number;
}

export function machineInfo(): MachineInfo {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU';
  const cores = cpuinfo.split('\n').filter((l) => l.startsWith('processor')).length;
  return {
    cpu: model,
    cores,
    ramGiB: Math.round(totalmem() / 2 ** 30),
    kernel: `Linux ${release()}`,
    node: process.version,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    load: loadavg()[0]!,
  };
}

export function machineLine(m: MachineInfo): string {
  return `Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.kernel}, Node ${m.node}; run ${m.date}, load average ${m.load.toFixed(1)} at the start.`;
}

/** A markdown table from a header and rows; `right` marks the columns to align right (numbers). */
export function table(header: string[], rows: Array<Array<string | number>>, right: boolean[]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (right[i] ? '---:' : '---')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

/** Writes bench/results/NAME.md: the machine line, then the body. Returns the file written. */
export function writeResult(name: string, machine: MachineInfo, body: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.md`);
  writeFileSync(file, `${machineLine(machine)}\n\n${body.trim()}\n`);
  return file;
}

export function intArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number, got ${process.argv[i + 1]}`);
  return v;
}

export function strArg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

export const fmt = (v: number, digits = 0): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** This process's own CPU time (user + system) in seconds: unlike wall time, other programs on a shared machine do not inflate it. */
export function cpuTimeS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
