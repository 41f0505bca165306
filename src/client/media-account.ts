import type { AlertMessage, ReceiptMessage, TrackReceipt } from '../protocol';
import type { Captured, Track } from './resend-buffer';

/** What this client captured for one track of one session. */
interface Tally {
  count: number;
  samples: number;
  firstSeq: number;
  lastSeq: number;
}

/** A run of items that fell out of the resend buffer unsent, in capture time. */
interface LostRun {
  fromSeq: number;
  toSeq: number;
  fromMs: number;
  toMs: number;
  count: number;
  samples: number;
}

interface SessionAccount {
  id: string;
  /** Capture time = session timestamp + this. */
  tsOffsetMs: number;
  fromMs: number;
  toMs: number;
  tracks: Record<Track, Tally>;
  lost: Record<Track, LostRun[]>;
  receipt: ReceiptMessage | null;
}

/** The client's last word on its media: may it exit 0, and what a person should read if not. */
export interface MediaVerdict {
  /** Every captured item is confirmed in a recording by a RECEIPT. */
  complete: boolean;
  /** The server said it could not record (ALERT recording_failed, or a RECEIPT marking the file damaged). */
  recordingFailed: boolean;
  /** One line per problem: what was lost and where in capture time. Empty when complete. */
  lines: string[];
}

const TRACKS: Track[] = ['video', 'audio'];
const emptyTally = (): Tally => ({ count: 0, samples: 0, firstSeq: -1, lastSeq: -1 });
const s = (ms: number): string => (ms / 1000).toFixed(1);

/**
 * Books every captured frame and chunk against the session it was numbered for, the items lost before they
 * could be sent, and the server's RECEIPTs; settle() compares them. The client exits 0 only if this says
 * complete: a success message over lost evidence is the one thing it must never print.
 */
export class MediaAccount {
  private readonly sessions: SessionAccount[] = [];
  private readonly failures: string[] = [];

  /** The session media is numbered for from now on; a resumed session keeps its entry. Returns its index. */
  begin(id: string, tsOffsetMs: number, atMs: number): number {
    const last = this.sessions[this.sessions.length - 1];
    if (last && last.id === id) return this.sessions.length - 1;
    this.sessions.push({
      id, tsOffsetMs, fromMs: atMs, toMs: atMs,
      tracks: { video: emptyTally(), audio: emptyTally() },
      lost: { video: [], audio: [] },
      receipt: null,
    });
    return this.sessions.length - 1;
  }

  get current(): number {
    return this.sessions.length - 1;
  }

  captured(c: Captured): void {
    const a = this.sessions[c.session];
    if (!a) return;
    const t = a.tracks[c.kind];
    if (t.firstSeq < 0) t.firstSeq = c.seq;
    t.lastSeq = c.seq;
    t.count++;
    t.samples += c.samples;
    a.toMs = Math.max(a.toMs, c.captureMs + c.durationMs);
  }

  lost(c: Captured): void {
    const runs = this.sessions[c.session]?.lost[c.kind];
    if (!runs) return;
    const run = runs[runs.length - 1];
    if (run && run.toSeq + 1 === c.seq) {
      run.toSeq = c.seq;
      run.toMs = c.captureMs + c.durationMs;
      run.count++;
      run.samples += c.samples;
    } else runs.push({ fromSeq: c.seq, toSeq: c.seq, fromMs: c.captureMs, toMs: c.captureMs + c.durationMs, count: 1, samples: c.samples });
  }

  /** Items never sent (the buffer overflowed, or a new session could not take them). */
  get lostCount(): number {
    return this.sessions.reduce((n, a) => n + a.lost.video.reduce((k, r) => k + r.count, 0) + a.lost.audio.reduce((k, r) => k + r.count, 0), 0);
  }

  receipt(m: ReceiptMessage): void {
    const a = this.sessions.find((x) => x.id === m.sessionId);
    if (a) a.receipt = m;
  }

  alert(m: AlertMessage): void {
    if (m.code === 'recording_failed') this.failures.push(m.text);
  }

  settle(audioRate: number): MediaVerdict {
    const lines: string[] = [];
    let complete = true;
    let recordingFailed = this.failures.length > 0;
    if (recordingFailed) lines.push(`RECORDING FAILED on the server: ${this.failures.join('; ')}`);
    for (const a of this.sessions) {
      const captured = a.tracks.video.count + a.tracks.audio.count;
      if (captured === 0 && !a.receipt) continue;
      if (!a.receipt) {
        complete = false;
        const lost = TRACKS.map((k) => this.lostText(k, a.lost[k].reduce((n, r) => n + r.count, 0), a.lost[k].reduce((n, r) => n + r.samples, 0), this.lostWhere(a, k, null), audioRate)).filter(Boolean);
        lines.push(
          `UNCONFIRMED session ${a.id} (capture ${s(a.fromMs)}-${s(a.toMs)} s): the server never confirmed its recording` +
            (lost.length ? `; never sent: ${lost.join(', ')}` : ''),
        );
        continue;
      }
      const r = a.receipt;
      if (!r.intact) {
        recordingFailed = true;
        lines.push(`RECORDING FAILED session ${a.id}: the server reports its recording is damaged (a write failed)`);
      }
      const missing: string[] = [];
      for (const k of TRACKS) {
        const { count, samples } = this.missing(a.tracks[k], r[k]);
        if (count > 0 || samples > 0) missing.push(this.lostText(k, count, samples, this.lostWhere(a, k, r[k]), audioRate));
      }
      if (missing.length > 0) {
        complete = false;
        lines.push(`LOST session ${a.id}: ${missing.join(', ')}`);
      }
    }
    return { complete: complete && !recordingFailed, recordingFailed, lines };
  }

  /** Captured items the recording lacks: sequence numbers outside what it holds, or counts short of ours. */
  private missing(t: Tally, r: TrackReceipt): { count: number; samples: number } {
    if (t.count === 0) return { count: 0, samples: 0 };
    if (r.lastSeq < 0) return { count: t.count, samples: t.samples };
    let held = 0;
    const lo = Math.max(t.firstSeq, r.firstSeq);
    const hi = Math.min(t.lastSeq, r.lastSeq);
    if (hi >= lo) {
      held = hi - lo + 1;
      for (const g of r.gaps) held -= Math.max(0, Math.min(g.toSeq, hi) - Math.max(g.fromSeq, lo) + 1);
    }
    let count = t.count - held;
    let samples = 0;
    // When this client numbered the whole session, the recorder's own counts must match ours too.
    if (t.firstSeq === r.firstSeq) {
      count = Math.max(count, t.count - r.messages);
      samples = Math.max(0, t.samples - r.samples);
    }
    return { count: Math.max(0, count), samples };
  }

  /** Capture-time ranges of what is missing: the server's gaps and tail, else the runs we know we lost. */
  private lostWhere(a: SessionAccount, k: Track, r: TrackReceipt | null): string[] {
    const where: Array<[number, number]> = [];
    if (r) {
      for (const g of r.gaps) where.push([g.afterMs + a.tsOffsetMs, g.beforeMs + a.tsOffsetMs]);
      if (r.lastSeq < a.tracks[k].lastSeq) {
        const tailFrom = a.lost[k].find((x) => x.toSeq > r.lastSeq)?.fromMs;
        where.push([tailFrom ?? a.fromMs, a.toMs]);
      }
    }
    if (where.length === 0) for (const run of a.lost[k]) where.push([run.fromMs, run.toMs]);
    return where.map(([from, to]) => `${s(from)}-${s(to)} s`);
  }

  private lostText(k: Track, count: number, samples: number, where: string[], audioRate: number): string {
    if (count === 0 && samples === 0) return '';
    const at = where.length ? ` at capture ${where.slice(0, 5).join(', ')}${where.length > 5 ? ` and ${where.length - 5} more` : ''}` : '';
    if (k === 'video') return `video ${count} frame(s)${at}`;
    const secs = audioRate > 0 ? ` (${(samples / audioRate).toFixed(2)} s)` : '';
    return `audio ${count} chunk(s)${samples > 0 ? secs : ''}${at}`;
  }
}
