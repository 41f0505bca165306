/** CPU and memory of a process and its children, read from /proc, for the benches' server figures. */
import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = 100;

/** User + system CPU seconds of one live process; null once it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

function statusKB(pid: number, key: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Peak resident memory of a live process (VmHWM), in MB. */
export const peakRssMB = (pid: number): number => statusKB(pid, 'VmHWM') / 1024;
export const rssMB = (pid: number): number => statusKB(pid, 'VmRSS') / 1024;

/** Children of a process, found by their parent pid. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone between readdir and read
    }
  }
  return out;
}

/**
 * Samples the CPU of a process and, separately, of its children (the detector processes) every call to
 * sample(); children that start or are replaced during the run are picked up at the next sample, and a child
 * that dies between samples loses at most one interval of its CPU.
 */
export class CpuMeter {
  private readonly seen = new Map<number, { first: number; last: number }>();
  private mainFirst: number;
  private mainLast: number;
  private peakRss = 0;
  private childPeakRss = 0;
  private readonly t0 = performance.now();
  private t1 = this.t0;

  constructor(private readonly pid: number) {
    this.mainFirst = this.mainLast = cpuSeconds(pid) ?? 0;
    this.sample();
    // Children sampled at the start count from there, not from their birth.
    for (const v of this.seen.values()) v.first = v.last;
  }

  sample(): void {
    const main = cpuSeconds(this.pid);
    if (main === null) return;
    this.mainLast = main;
    this.t1 = performance.now();
    this.peakRss = Math.max(this.peakRss, peakRssMB(this.pid));
    let childRss = 0;
    for (const child of childPids(this.pid)) {
      const cpu = cpuSeconds(child);
      if (cpu === null) continue;
      childRss += rssMB(child);
      const known = this.seen.get(child);
      if (known) known.last = cpu;
      else this.seen.set(child, { first: 0, last: cpu });
    }
    this.childPeakRss = Math.max(this.childPeakRss, childRss);
  }

  /** CPU percent (100 = one core) of the process itself and of its children, over the time sampled. */
  result(): { mainPct: number; childrenPct: number; children: number; peakRssMB: number; childrenRssMB: number; seconds: number } {
    const s = Math.max(1e-3, (this.t1 - this.t0) / 1000);
    let kids = 0;
    for (const v of this.seen.values()) kids += v.last - v.first;
    return {
      mainPct: ((this.mainLast - this.mainFirst) / s) * 100,
      childrenPct: (kids / s) * 100,
      children: this.seen.size,
      peakRssMB: this.peakRss,
      childrenRssMB: this.childPeakRss,
      seconds: s,
    };
  }
}
