import type { FaceVerdict } from './types';

export type IncidentKind = Exclude<FaceVerdict, 'ok'> | 'speech' | 'disconnected';

export interface Incident {
  id: number;
  kind: IncidentKind;
  /** Seconds from the start of the session (the recording's timeline). */
  start_s: number;
  /** Null while open. */
  end_s: number | null;
  /** Analysed frames that showed this incident's state. */
  frames: number;
  peak_confidence: number;
}

export type IncidentEvent = { type: 'open'; incident: Incident } | { type: 'close'; incident: Incident };

/**
 * Debounces per-frame verdicts into incidents. A verdict must hold for `sustainS` before it counts: a non-ok state
 * that holds opens an incident (starting at its first frame), and ok (or another non-ok state) that holds the
 * same way closes it (ending at the first frame of the new state). One stray frame changes nothing.
 */
/** The states a tracker debounces: face verdicts, or `speech` against `ok` (quiet) for audio. */
export type TrackedState = FaceVerdict | 'speech';

/** Hands out incident ids; share one between the trackers of a session so ids stay unique on its timeline. */
export class IncidentIds {
  private next = 1;
  take(): number {
    return this.next++;
  }
}

export class IncidentTracker {
  private stable: TrackedState = 'ok';
  private pending: { verdict: TrackedState; since: number; frames: number; peak: number } | null = null;
  private current: Incident | null = null;
  private lastT = 0;

  constructor(
    private readonly sustainS = 1.0,
    private readonly ids: IncidentIds = new IncidentIds(),
  ) {}

  get open(): Incident | null {
    return this.current;
  }

  /** An id for an incident tracked elsewhere (a disconnection), unique within this session's timeline. */
  allocateId(): number {
    return this.ids.take();
  }

  update(t: number, verdict: TrackedState, confidence: number): IncidentEvent[] {
    this.lastT = Math.max(this.lastT, t);
    if (verdict === this.stable) {
      this.pending = null;
      if (this.current) {
        this.current.frames++;
        this.current.peak_confidence = Math.max(this.current.peak_confidence, confidence);
      }
      return [];
    }
    if (!this.pending || this.pending.verdict !== verdict) this.pending = { verdict, since: t, frames: 0, peak: 0 };
    this.pending.frames++;
    this.pending.peak = Math.max(this.pending.peak, confidence);
    if (t - this.pending.since < this.sustainS) return [];

    const events: IncidentEvent[] = [];
    const p = this.pending;
    if (this.current) events.push(this.close(p.since));
    if (p.verdict !== 'ok') {
      this.current = { id: this.ids.take(), kind: p.verdict, start_s: round(p.since), end_s: null, frames: p.frames, peak_confidence: p.peak };
      events.push({ type: 'open', incident: { ...this.current } });
    }
    this.stable = p.verdict;
    this.pending = null;
    return events;
  }

  private close(at: number): IncidentEvent {
    const inc = this.current!;
    this.current = null;
    return { type: 'close', incident: { ...inc, end_s: round(Math.max(at, inc.start_s)) } };
  }

  /** Closes an open incident at the end of the session (at `t`, or the last frame seen). */
  finish(t = this.lastT): IncidentEvent[] {
    return this.current ? [this.close(t)] : [];
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
