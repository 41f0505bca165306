import { setTimeout as sleep } from 'node:timers/promises';

export interface PaceOptions<T = Buffer> {
  /** performance.now() at which the stream's clock reads 0. */
  origin: number;
  signal: AbortSignal;
  /** One pass over the source; called again for each loop. */
  pass: () => AsyncIterable<T>;
  /** When item `index` is due, in ms from the origin; `before` is the sum of `units` of the items before it. */
  timeOf: (index: number, before: number) => number;
  /** Measures an item in the stream's own clock units (samples for audio). Default 1. */
  units?: (item: T) => number;
  /** False while the mode excludes the stream: items are read and skipped, as a live camera keeps running. */
  enabled: () => boolean;
  /** Resolves when the connection may take more (a stalled server slows us instead of filling memory). */
  ready: () => Promise<void>;
  send: (item: T, ts: number) => void;
  loop: boolean;
}

/**
 * Items are sent on the first tick of this grid (on the process's clock) at or after they are due, so the streams
 * due close together (audio and video, and every client in a process such as bench/ingest's) wake the event loop
 * once per tick instead of once per item. It delays a send by at most this much; the timestamps on the wire are
 * the items' own, so recordings are unchanged.
 */
export const SEND_GRID_MS = 20;

/** Sleeps until the first grid tick at or after `origin + ms`; resolves false if the signal fired meanwhile. */
async function until(origin: number, ms: number, signal: AbortSignal): Promise<boolean> {
  const now = performance.now();
  const due = origin + ms;
  const wait = due - now;
  if (wait > 1) {
    try {
      // Whole milliseconds: Node keeps one timer list per distinct delay, and a fractional delay made a list,
      // and a priority-queue insert and removal, for every frame and audio chunk.
      await sleep(Math.ceil(Math.ceil(due / SEND_GRID_MS) * SEND_GRID_MS - now), undefined, { signal });
    } catch {
      return false;
    }
  }
  return !signal.aborted;
}

/** Sends one stream paced at real time: item i goes at `origin + timeOf(i)`. */
export async function paceAtRealTime<T = Buffer>(o: PaceOptions<T>): Promise<void> {
  const units = o.units ?? (() => 1);
  let index = 0;
  let before = 0;
  do {
    for await (const item of o.pass()) {
      const ts = o.timeOf(index, before);
      index++;
      before += units(item);
      if (!(await until(o.origin, ts, o.signal))) return;
      if (!o.enabled()) continue;
      await o.ready();
      if (o.signal.aborted) return;
      o.send(item, ts);
    }
  } while (o.loop && !o.signal.aborted);
}
