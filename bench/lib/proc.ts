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

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** A server's child is a detector process when it runs the detector worker; anything else (ffmpeg muxing subtitles at a session's end) is "other". */
export const isDetector = (cmd: string): boolean => /detect[/\\]worker\.js/.test(cmd);

export interface CpuFigures {
  mainPct: number;
  /** Children that run the detector worker. */
  detectorPct: number;
  detectors: number;
  /** Any other children (ffmpeg subtitle muxes when sessions end). */
  otherPct: number;
  others: number;
  peakRssMB: number;
  detectorRssMB: number;
  seconds: number;
}

/**
 * Samples the CPU of a process and, separately, of its detector children and its other children every call to
 * sample(); children that start or are replaced during the run are picked up at the next sample, and a child
 * that lives less than one interval is missed (so "other" is a lower bound).
 */
export class CpuMeter {
  private readonly seen = new Map<number, { first: number; last: number; detector: boolean }>();
  private mainFirst: number;
  private mainLast: number;
  private peakRss = 0;
  private detectorPeakRss = 0;
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
    let detectorRss = 0;
    for (const child of childPids(this.pid)) {
      const cpu = cpuSeconds(child);
      if (cpu === null) continue;
      const known = this.seen.get(child);
      const detector = known?.detector ?? isDetector(cmdline(child));
      if (detector) detectorRss += rssMB(child);
      if (known) known.last = cpu;
      else this.seen.set(child, { first: 0, last: cpu, detector });
    }
    this.detectorPeakRss = Math.max(this.detectorPeakRss, detectorRss);
  }

  /** CPU percent (100 = one core) of the process itself and of its children, over the time sampled. */
  result(): CpuFigures {
    const s = Math.max(1e-3, (this.t1 - this.t0) / 1000);
    let det = 0;
    let other = 0;
    let detectors = 0;
    let others = 0;
    for (const v of this.seen.values()) {
      if (v.detector) {
        det += v.last - v.first;
        detectors++;
      } else {
        other += v.last - v.first;
        others++;
      }
    }
    return {
      mainPct: ((this.mainLast - this.mainFirst) / s) * 100,
      detectorPct: (det / s) * 100,
      detectors,
      otherPct: (other / s) * 100,
      others,
      peakRssMB: this.peakRss,
      detectorRssMB: this.detectorPeakRss,
      seconds: s,
    };
  }
}
