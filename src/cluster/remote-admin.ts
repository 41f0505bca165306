/**
 * The admin link over NATS: what `vigil status --nats`, `vigil console --nats` and `vigil listen --nats` use in
 * place of the local admin socket. Status merges every live node's answer; a kick, mode switch, preview or
 * listen-in goes to the node that has the candidate.
 */
import { connect, createInbox, type NatsConnection, type Subscription } from 'nats';
import { AdminClientError } from '../admin/client';
import type { AdminLink, RequestBody } from '../admin/link';
import type { AdminReply, AdminRequest, CandidateStatus, EndedSession, ListenChunk, PreviewFrame, ServerEvent, ServerStatus } from '../protocol';
import { ALL_EVENTS, NODES_BUCKET, WATCH_RENEW_MS, controlSubject, encodeControl, parseBusMessage, parseNodeRecord, parseReply, type NodeRecord } from './wire';

export type ClusterCandidate = CandidateStatus & { node: string };

export interface NodeView extends NodeRecord {
  /** Ids of the candidates on this node; empty with `error` when the node did not answer. */
  candidates: string[];
  error: string | null;
}

export interface ClusterStatus {
  nodes: NodeView[];
  candidates: ClusterCandidate[];
  /** The nodes' statuses, for the merged ServerStatus the console shows. */
  statuses: ServerStatus[];
}

export class NatsAdminClient implements AdminLink {
  private readonly owner = new Map<string, string>();
  private readonly frameListeners = new Set<(f: PreviewFrame) => void>();
  private readonly audioListeners = new Set<(a: ListenChunk) => void>();
  private readonly closeListeners = new Set<(why: string) => void>();
  private readonly subs: Subscription[] = [];
  private readonly inbox = createInbox();
  private watching: { preview: { node: string; body: RequestBody } | null; listen: { node: string; body: RequestBody } | null } = { preview: null, listen: null };
  private renew: NodeJS.Timeout | null = null;
  private nextReq = 1;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    readonly where: string,
    private readonly timeoutMs: number,
  ) {
    this.subs.push(
      nc.subscribe(this.inbox, {
        callback: (err, msg) => {
          if (err) return;
          let reply: AdminReply;
          try {
            reply = parseReply(msg.data);
          } catch {
            return;
          }
          if (reply.type === 'frame') for (const l of this.frameListeners) l(reply.frame);
          if (reply.type === 'audio') for (const l of this.audioListeners) l(reply.audio);
        },
      }),
    );
    void nc.closed().then((err) => this.onClose(err ? err.message : 'the NATS connection closed'));
  }

  static async connect(url: string, timeoutMs = 3_000): Promise<NatsAdminClient> {
    try {
      const nc = await connect({ servers: url, name: 'vigil-admin', timeout: timeoutMs, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
      return new NatsAdminClient(nc, url, timeoutMs);
    } catch (err) {
      throw new AdminClientError('VIGIL_ERR_NO_SERVER', `cannot reach NATS at ${url}: ${(err as Error).message}`);
    }
  }

  /** The live nodes, from the heartbeat bucket (a node that stopped beating is gone within its TTL). */
  async nodes(): Promise<NodeRecord[]> {
    let kv;
    try {
      kv = await this.nc.jetstream({ timeout: this.timeoutMs }).views.kv(NODES_BUCKET, { bindOnly: true });
    } catch {
      return []; // no node ever registered
    }
    const names: string[] = [];
    for await (const k of await kv.keys()) names.push(k);
    const records: NodeRecord[] = [];
    for (const name of names.sort()) {
      const e = await kv.get(name);
      if (!e || e.operation !== 'PUT') continue;
      try {
        records.push(parseNodeRecord(e.value));
      } catch {
        // a malformed record is no live node
      }
    }
    return records;
  }

  private async ask(node: string, request: AdminRequest, to: string | null = null): Promise<AdminReply> {
    try {
      const msg = await this.nc.request(controlSubject(node), encodeControl(request, to), { timeout: this.timeoutMs });
      return parseReply(msg.data);
    } catch (err) {
      throw new AdminClientError('VIGIL_ERR_ADMIN_TIMEOUT', `node ${node} did not answer "${request.type}": ${(err as Error).message}`);
    }
  }

  async clusterStatus(): Promise<ClusterStatus> {
    const records = await this.nodes();
    const answers = await Promise.all(
      records.map(async (r) => {
        try {
          const reply = await this.ask(r.node, { type: 'status', req: this.nextReq++ });
          if (reply.type !== 'status') throw new Error(`unexpected reply ${reply.type}`);
          return { record: r, status: reply.status, error: null };
        } catch (err) {
          return { record: r, status: null, error: (err as Error).message };
        }
      }),
    );
    const candidates: ClusterCandidate[] = [];
    const nodes: NodeView[] = [];
    const statuses: ServerStatus[] = [];
    this.owner.clear();
    for (const a of answers) {
      const ids = a.status?.candidates.map((c) => c.id) ?? [];
      for (const c of a.status?.candidates ?? []) {
        candidates.push({ ...c, node: a.record.node });
        this.owner.set(c.id, a.record.node);
      }
      if (a.status) statuses.push(a.status);
      nodes.push({ ...a.record, candidates: ids, error: a.error });
    }
    return { nodes, candidates, statuses };
  }

  async status(): Promise<ServerStatus> {
    const cluster = await this.clusterStatus();
    return mergeStatus(cluster, this.where);
  }

  /** The sessions every live node has finalised, newest first (a node that does not answer is left out). */
  async ended(): Promise<EndedSession[]> {
    const records = await this.nodes();
    const lists = await Promise.all(
      records.map(async (r) => {
        const reply = await this.ask(r.node, { type: 'ended', req: this.nextReq++ }).catch(() => null);
        return reply?.type === 'ended' ? reply.sessions : [];
      }),
    );
    return lists.flat().sort((a, b) => (b.ended_at ?? '').localeCompare(a.ended_at ?? ''));
  }

  private async ownerOf(id: string): Promise<string | null> {
    if (!this.owner.has(id)) await this.clusterStatus();
    return this.owner.get(id) ?? null;
  }

  async request(body: RequestBody): Promise<AdminReply> {
    if (this.closed) throw new AdminClientError('VIGIL_ERR_ADMIN_CLOSED', 'the NATS connection is closed');
    const req = this.nextReq++;
    switch (body.type) {
      case 'status':
        return { type: 'status', req, status: await this.status() };
      case 'subscribe':
        return { type: 'ok', req };
      case 'ended':
        return { type: 'ended', req, sessions: await this.ended() };
      case 'preview_stop':
      case 'listen_stop': {
        const kind = body.type === 'preview_stop' ? 'preview' : 'listen';
        const w = this.watching[kind];
        this.watching[kind] = null;
        if (!w) return { type: 'ok', req };
        return this.ask(w.node, { ...body, req } as AdminRequest, this.inbox).catch(() => ({ type: 'ok', req }) as AdminReply);
      }
      case 'kick':
      case 'set_mode':
      case 'preview':
      case 'listen': {
        const node = await this.ownerOf(body.id);
        if (!node) return { type: 'error', req, code: 'unknown_candidate', message: `no live node has a candidate ${JSON.stringify(body.id)}` };
        const watch = body.type === 'preview' || body.type === 'listen';
        const reply = await this.ask(node, { ...body, req } as AdminRequest, watch ? this.inbox : null);
        if (watch && reply.type === 'ok') this.startWatch(body.type, node, body);
        return reply;
      }
    }
  }

  /** Renews the preview/listen lease while this watcher wants it (the node stops the stream when renewals stop). */
  private startWatch(kind: 'preview' | 'listen', node: string, body: RequestBody): void {
    this.watching[kind] = { node, body };
    this.renew ??= setInterval(() => {
      for (const w of [this.watching.preview, this.watching.listen]) {
        if (w) void this.ask(w.node, { ...w.body, req: this.nextReq++ } as AdminRequest, this.inbox).catch(() => undefined);
      }
    }, WATCH_RENEW_MS);
  }

  async command(body: RequestBody): Promise<void> {
    const reply = await this.request(body);
    if (reply.type === 'error') throw new AdminClientError('VIGIL_ERR_ADMIN_REFUSED', reply.message);
  }

  async subscribe(listener: (e: ServerEvent) => void): Promise<void> {
    this.subs.push(
      this.nc.subscribe(ALL_EVENTS, {
        callback: (err, msg) => {
          if (err) return;
          try {
            const m = parseBusMessage(msg.data);
            if (m.type !== 'event') return;
            if (m.event.kind === 'candidate_joined') this.owner.set(m.event.id, m.node);
            listener(m.event);
          } catch {
            // not a vigil message
          }
        },
      }),
    );
    await this.nc.flush();
  }

  onFrame(listener: (f: PreviewFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  onAudio(listener: (a: ListenChunk) => void): () => void {
    this.audioListeners.add(listener);
    return () => this.audioListeners.delete(listener);
  }

  onClosed(listener: (why: string) => void): void {
    this.closeListeners.add(listener);
  }

  private onClose(why: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.renew) clearInterval(this.renew);
    for (const l of this.closeListeners) l(why);
  }

  close(): void {
    if (this.closed) return;
    for (const s of this.subs) s.unsubscribe();
    this.onClose('closed by this end');
    void this.nc.close();
  }
}

/** The cluster as one ServerStatus, for the console (which shows one server's view). */
export function mergeStatus(cluster: ClusterStatus, where: string): ServerStatus {
  const s = cluster.statuses;
  const down = s.find((x) => x.detection.state === 'down');
  const drops: ServerStatus['drops'] = {};
  for (const x of s) for (const [k, v] of Object.entries(x.drops) as Array<[keyof ServerStatus['drops'], number]>) drops[k] = (drops[k] ?? 0) + v;
  return {
    version: s[0]?.version ?? '?',
    listen: `${cluster.nodes.length} node(s) via ${where}`,
    record_dir: '(each node its own)',
    started_at: s.map((x) => x.started_at).sort()[0] ?? new Date().toISOString(),
    uptime_s: Math.max(0, ...s.map((x) => x.uptime_s)),
    candidates: cluster.candidates,
    drops,
    detection: down ? down.detection : s.some((x) => x.detection.state === 'up') ? { state: 'up' } : { state: 'off' },
    recording_failures: s.reduce((n, x) => n + x.recording_failures, 0),
  };
}
