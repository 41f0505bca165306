// Connections per remote address that have not finished their handshake, so that one address cannot hold the
// server's sockets with HELLOs it never sends; apart from server.ts, which refuses what goes over the limit.
import type { CandidateConnection } from './connection';

export class PendingHandshakes {
  private readonly byIp = new Map<string, number>();
  private readonly ipOf = new Map<CandidateConnection, string>();

  /** Counts a new connection against its address; returns how many that address now has in progress. */
  add(conn: CandidateConnection, ip: string): number {
    const pending = (this.byIp.get(ip) ?? 0) + 1;
    this.byIp.set(ip, pending);
    this.ipOf.set(conn, ip);
    return pending;
  }

  /** A connection leaves the count (once admitted, or once closed); a second call does nothing. */
  settle(conn: CandidateConnection): void {
    const ip = this.ipOf.get(conn);
    if (ip === undefined) return;
    this.ipOf.delete(conn);
    const n = (this.byIp.get(ip) ?? 1) - 1;
    if (n > 0) this.byIp.set(ip, n);
    else this.byIp.delete(ip);
  }
}
