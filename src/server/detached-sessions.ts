// Sessions whose connection died, each kept with its timer until the candidate resumes it or the resume window ends;
// apart from server.ts so the timers have one owner that releases them.
import type { CandidateConnection } from './connection';
import type { Session } from './session';

export interface DetachedSession {
  session: Session;
  conn: CandidateConnection;
}

export class DetachedSessions {
  private readonly parked = new Map<string, DetachedSession & { timer: NodeJS.Timeout; deadline: number }>();

  get size(): number {
    return this.parked.size;
  }

  ids(): IterableIterator<string> {
    return this.parked.keys();
  }

  /** Keeps the session for `windowMs`; `expired` runs if nobody takes it back by then. */
  park(session: Session, conn: CandidateConnection, windowMs: number, expired: () => void): void {
    const timer = setTimeout(() => {
      if (this.parked.get(session.id)?.session !== session) return;
      this.parked.delete(session.id);
      expired();
    }, windowMs);
    this.parked.set(session.id, { session, conn, timer, deadline: performance.now() + windowMs });
  }

  /** The kept sessions with the milliseconds left before each is finalised (for the console's table). */
  waiting(): Array<DetachedSession & { leftMs: number }> {
    const now = performance.now();
    return [...this.parked.values()].map(({ session, conn, deadline }) => ({ session, conn, leftMs: Math.max(0, deadline - now) }));
  }

  peek(id: string): DetachedSession | undefined {
    return this.parked.get(id);
  }

  /** Removes the candidate's kept session, its timer stopped; undefined if there is none. */
  take(id: string): DetachedSession | undefined {
    const parked = this.parked.get(id);
    if (!parked) return undefined;
    clearTimeout(parked.timer);
    this.parked.delete(id);
    return parked;
  }

  /** Removes every kept session, timers stopped (shutdown). */
  takeAll(): DetachedSession[] {
    return [...this.parked.keys()].map((id) => this.take(id)!);
  }
}
