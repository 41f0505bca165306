/**
 * The cluster's session table (KV bucket vigil_sessions): which node owns each candidate's session, and a
 * checkpoint of what its recording holds. A node that admits a candidate it has no session for asks here first:
 * a session whose owner is gone (entry not rewritten for STALE_MS, or released by a clean shutdown) is continued
 * as a new part on this node, from the checkpoint; every change of owner is a compare-and-swap, so exactly one
 * node wins. With NATS unreachable every node still admits candidates: they start new sessions, registered
 * when NATS is back.
 */
import type { KV, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { HelloMessage } from '../protocol';
import { newSessionId } from '../server/ids';
import { sameMedia } from '../server/hello-checks';
import { NO_CARRY, partDirName, type Carried, type OwnedSession, type SessionClaim, type SessionDirectory } from '../server/session-part';
import { CHECKPOINT_MS, SESSIONS_BUCKET, SESSION_TTL_MS, STALE_MS, isCasConflict, parseSessionEntry, type SessionEntry } from './session-entry';
import { controlSubject, encode, encodeControl, parseReply } from './wire';

const KV_TIMEOUT_MS = 1_000;
const CLAIM_POLL_MS = 200;

interface Owned {
  session: OwnedSession;
  connected: () => boolean;
  release: () => void;
  entry: SessionEntry;
  revision: number | null;
}

export class ClusterSessions implements SessionDirectory {
  private nc: NatsConnection | null = null;
  private kv: KV | null = null;
  private readonly owned = new Map<string, Owned>();
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  private readonly pending = new Set<Promise<void>>();
  /** Claims and checkpoints written, for the bench. */
  readonly writes = { claims: 0, checkpoints: 0 };

  constructor(
    private readonly node: string,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.checkpointAll(), CHECKPOINT_MS);
    // The server keeps the process alive; this table alone must not (a server that failed to start exits).
    this.timer.unref();
  }

  /** The bus to use from now on (null while NATS is gone). */
  use(nc: NatsConnection | null): void {
    this.nc = nc;
    this.kv = null;
    // After an outage the entries are rewritten from what this node holds, at once.
    for (const o of this.owned.values()) o.revision = null;
    if (nc) void this.checkpointAll();
  }

  private async table(): Promise<KV | null> {
    if (this.kv) return this.kv;
    const nc = this.nc;
    if (!nc || nc.isClosed()) return null;
    try {
      this.kv = await nc.jetstream({ timeout: KV_TIMEOUT_MS }).views.kv(SESSIONS_BUCKET, { ttl: SESSION_TTL_MS, history: 1, timeout: KV_TIMEOUT_MS });
    } catch (err) {
      this.log.debug({ err }, 'session table unavailable');
      this.kv = null;
    }
    return this.kv;
  }

  private fresh(hello: HelloMessage, sessionId: string): SessionEntry {
    return { candidate_id: hello.candidateId, session_id: sessionId, owner: this.node, connected: true, started_at: new Date().toISOString(), part: 1, parts: [{ part: 1, node: this.node, dir: sessionId }], video: hello.video, audio: hello.audio, checkpoint: null };
  }

  async claim(hello: HelloMessage): Promise<SessionClaim> {
    const id = hello.candidateId;
    const kv = await this.table();
    if (!kv) {
      this.log.warn({ id }, 'session table unreachable (NATS down?): a new session, registered when NATS is back');
      return { kind: 'new', sessionId: newSessionId(), part: null };
    }
    const deadline = Date.now() + STALE_MS + CHECKPOINT_MS;
    try {
      for (;;) {
        const e = await kv.get(id);
        if (!e || e.operation !== 'PUT') {
          const entry = this.fresh(hello, newSessionId());
          try {
            await kv.create(id, encode(entry));
            this.writes.claims++;
            return { kind: 'new', sessionId: entry.session_id, part: { n: 1, parts: entry.parts, clockMs: 0, carried: null, gapFromS: null } };
          } catch (err) {
            if (!isCasConflict(err)) throw err;
            return { kind: 'refused', text: `another connection of ${id} opened a session on another node a moment ago` };
          }
        }
        const entry = parseSessionEntry(e.value);
        const ageMs = Date.now() - e.created.getTime();
        const ownerGone = entry.owner === null || entry.owner === this.node || ageMs > STALE_MS || !entry.connected || (await this.ownerLets(entry.owner, id));
        if (!ownerGone) {
          if (Date.now() > deadline) return { kind: 'refused', text: `candidate ${id} is connected to node ${entry.owner}` };
          // The owner may have died a moment ago: its next checkpoint (or its absence) tells.
          await new Promise((r) => setTimeout(r, CLAIM_POLL_MS));
          continue;
        }
        return await this.takeOver(kv, hello, entry, e.revision);
      }
    } catch (err) {
      this.log.warn({ err, id }, 'session table failed during a claim: a new session');
      return { kind: 'new', sessionId: newSessionId(), part: null };
    }
  }

  /**
   * Asks the owner itself: a node that died has no subscriber left, so NATS answers "no responders" at once
   * (no waiting for its entry to go stale); a live owner says whether the candidate is still connected there.
   */
  private async ownerLets(owner: string, id: string): Promise<boolean> {
    const nc = this.nc;
    if (!nc) return false;
    try {
      const msg = await nc.request(controlSubject(owner), encodeControl({ type: 'status', req: 0 }, null), { timeout: KV_TIMEOUT_MS });
      const reply = parseReply(msg.data);
      return reply.type === 'status' && !reply.status.candidates.some((c) => c.id === id);
    } catch (err) {
      return (err as { code?: string }).code === '503';
    }
  }

  private async takeOver(kv: KV, hello: HelloMessage, entry: SessionEntry, revision: number): Promise<SessionClaim> {
    const id = hello.candidateId;
    if (!sameMedia({ init: entry }, hello)) {
      // Another picture size or audio format cannot continue the same recording: a new session replaces it.
      const fresh = this.fresh(hello, newSessionId());
      try {
        await kv.update(id, encode(fresh), revision);
      } catch (err) {
        if (isCasConflict(err)) return { kind: 'refused', text: `another node took over the session of ${id} a moment ago` };
        throw err;
      }
      this.writes.claims++;
      return { kind: 'new', sessionId: fresh.session_id, part: { n: 1, parts: fresh.parts, clockMs: 0, carried: null, gapFromS: null } };
    }
    const n = Math.max(entry.part, ...entry.parts.map((p) => p.part)) + 1;
    const parts = [...entry.parts, { part: n, node: this.node, dir: partDirName(entry.session_id, n) }];
    const next: SessionEntry = { ...entry, owner: this.node, connected: true, part: n, parts };
    try {
      await kv.update(id, encode(next), revision);
    } catch (err) {
      if (isCasConflict(err)) return { kind: 'refused', text: `another node took over the session of ${id} a moment ago` };
      throw err;
    }
    this.writes.claims++;
    const carried: Carried = entry.checkpoint?.carried ?? NO_CARRY;
    const atMs = entry.checkpoint?.at_ms ?? 0;
    this.log.info({ id, session: entry.session_id, from: entry.owner, part: n, resumeAfter: { video: carried.video.last_seq, audio: carried.audio.last_seq } }, 'continuing a session another node recorded');
    return { kind: 'continue', sessionId: entry.session_id, part: { n, parts, clockMs: Date.now() - Date.parse(entry.started_at), carried, gapFromS: atMs / 1000 } };
  }

  opened(session: OwnedSession, connected: () => boolean, release: () => void): void {
    const part = session.init.part;
    const entry: SessionEntry = {
      candidate_id: session.id,
      session_id: session.init.sessionId,
      owner: this.node,
      connected: true,
      started_at: new Date(Date.now() - session.ageMs).toISOString(),
      part: part?.n ?? 1,
      parts: part?.parts ?? [{ part: 1, node: this.node, dir: session.init.sessionId }],
      video: session.init.video,
      audio: session.init.audio,
      checkpoint: null,
    };
    // The claim wrote the entry; its revision is learnt at the first checkpoint (null: read it then).
    this.owned.set(session.id, { session, connected, release, entry, revision: null });
  }

  ended(session: OwnedSession, cause: string): void {
    const o = this.owned.get(session.id);
    if (!o || o.session !== session) return;
    this.owned.delete(session.id);
    const write = (async () => {
      const kv = await this.table();
      if (!kv) return;
      try {
        const revision = o.revision ?? (await this.revisionIfMine(kv, o));
        if (revision === null) return;
        if (cause === 'server_shutdown') {
          // Left for another node: the candidate reconnects through the balancer and continues from this exact checkpoint.
          await kv.update(session.id, encode({ ...o.entry, owner: null, connected: false, checkpoint: checkpointOf(session) }), revision);
        } else {
          await kv.delete(session.id, { previousSeq: revision });
        }
      } catch (err) {
        if (!isCasConflict(err)) this.log.warn({ err, id: session.id }, 'session table not updated at the end of a session');
      }
    })();
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  /** The entry's revision if the session is still this node's; null if another node has it (or it is gone). */
  private async revisionIfMine(kv: KV, o: Owned): Promise<number | null> {
    const e = await kv.get(o.session.id);
    if (!e || e.operation !== 'PUT') return null;
    const entry = parseSessionEntry(e.value);
    const mine = entry.session_id === o.session.init.sessionId && (entry.owner === this.node || entry.owner === null || Date.now() - e.created.getTime() > STALE_MS);
    return mine ? e.revision : null;
  }

  /** Writes the entry: an update on the known revision, or (after an outage, or a session opened during one) a fresh start. */
  private async store(kv: KV, o: Owned): Promise<number> {
    if (o.revision !== null) return kv.update(o.session.id, encode(o.entry), o.revision);
    const e = await kv.get(o.session.id);
    if (!e || e.operation !== 'PUT') return kv.create(o.session.id, encode(o.entry));
    const revision = await this.revisionIfMine(kv, o);
    if (revision === null) throw new Error('wrong last sequence: the session table gives this candidate to another node');
    return kv.update(o.session.id, encode(o.entry), revision);
  }

  private async checkpointAll(): Promise<void> {
    if (this.ticking || this.owned.size === 0) return;
    this.ticking = true;
    try {
      const kv = await this.table();
      if (!kv) return;
      for (const [id, o] of [...this.owned]) {
        // Only a moment when everything accepted is in the kernel: a SIGKILL then loses none of what the checkpoint names.
        if (o.session.recorderBacklog === 0) o.entry = { ...o.entry, checkpoint: checkpointOf(o.session) };
        o.entry = { ...o.entry, connected: o.connected() };
        try {
          o.revision = await this.store(kv, o);
          this.writes.checkpoints++;
        } catch (err) {
          if (!isCasConflict(err)) {
            o.revision = null;
            this.log.debug({ err, id }, 'checkpoint not stored');
            continue;
          }
          this.log.warn({ id, session: o.session.init.sessionId }, 'another node took over this session; ending the part kept here');
          this.owned.delete(id);
          o.release();
        }
      }
    } finally {
      this.ticking = false;
    }
  }

  /** Resolves once the table has heard of every session that ended (shutdown waits for this before leaving the bus). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

function checkpointOf(s: OwnedSession): { at_ms: number; carried: Carried } {
  const rate = s.init.audio?.sampleRate ?? 0;
  const { video, audio } = s.ledger;
  return {
    at_ms: Math.max(0, s.lastVideoTs, s.lastAudioTs),
    carried: {
      video: { first_seq: video.firstSeq, last_seq: video.lastSeq, last_ts: s.lastVideoTs, messages: video.messages, samples: 0 },
      audio: { first_seq: audio.firstSeq, last_seq: audio.lastSeq, last_ts: s.lastAudioTs, messages: audio.messages, samples: s.carried.audio.samples + Math.round(s.audioSeconds * rate) },
    },
  };
}
