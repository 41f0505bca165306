/**
 * The cluster adapter of one `vigil serve --nats` node: registers the node in the KV bucket with a heartbeat,
 * publishes the server's typed events and a 1 Hz summary on vigil.events.<exam>.<node>, and answers control
 * requests on vigil.ctl.<node> with the very calls the admin socket makes. The server does not know it is here.
 * NATS being down never stops the node: the client keeps reconnecting, and on every (re)connect the node
 * registers again and republishes its state.
 */
import os from 'node:os';
import { connect, Events, type KV, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import type { AdminTarget } from '../server/admin-server';
import type { AdminReply, ServerEvent } from '../protocol';
import { ControlHandler } from './control';
import type { ClusterSessions } from './sessions';
import { HEARTBEAT_MS, NODES_BUCKET, NODE_TTL_MS, controlSubject, encode, eventsSubject, type BusMessage, type NodeLoad, type NodeRecord } from './wire';

export interface ClusterNodeOptions {
  url: string;
  node: string;
  exam: string;
  /** host:port candidates connect to. */
  listen: string;
  version: string;
  target: AdminTarget;
  /** The session table the server was given (the node hands it the bus). */
  sessions?: ClusterSessions;
  log: Logger;
}

const SUMMARY_MS = 1_000;
const CONNECT_RETRY_MS = 1_000;
const CLOSE_DRAIN_MS = 2_000;

export class ClusterNode {
  private nc: NatsConnection | null = null;
  private kv: KV | null = null;
  private control: Subscription | null = null;
  private readonly handler: ControlHandler;
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;
  private closed = false;
  /** Connected to NATS right now (the client reconnects by itself; this follows its status). */
  private online = false;
  private beating = false;
  private retry: NodeJS.Timeout | null = null;
  private readonly startedAt = new Date().toISOString();
  private cpu = { usage: process.cpuUsage(), at: process.hrtime.bigint(), percent: 0 };
  private readonly connecting: Promise<void>;
  /** Bus messages and bytes published since start (bench and status read these). */
  readonly sent = { messages: 0, bytes: 0 };

  constructor(private readonly opts: ClusterNodeOptions) {
    this.handler = new ControlHandler(opts.target, (subject, reply) => this.send(subject, encode(reply)), opts.log);
    this.unsubscribe = opts.target.events.subscribe((event) => this.onEvent(event));
    this.connecting = this.connectLoop().catch((err: unknown) => opts.log.error({ err }, 'the cluster adapter failed; this node serves alone'));
    this.timers.push(setInterval(() => this.summary(), SUMMARY_MS));
    this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_MS));
  }

  get subject(): string {
    return eventsSubject(this.opts.exam, this.opts.node);
  }

  /** Resolves once the first connection to NATS is up (tests wait for it; serving never does). */
  whenConnected(): Promise<void> {
    return this.connecting;
  }

  get connected(): boolean {
    return this.online && this.nc !== null && !this.nc.isClosed();
  }

  private async connectLoop(): Promise<void> {
    // An unreachable NATS at start is retried in the background, like a lost one; serving never waits for it.
    let nc: NatsConnection | null = null;
    let warned = false;
    while (!this.closed && !nc) {
      try {
        nc = await connect({ servers: this.opts.url, name: `vigil-${this.opts.node}`, timeout: 2_000, maxReconnectAttempts: -1, reconnectTimeWait: 500, pingInterval: 2_000, maxPingOut: 2 });
      } catch (err) {
        if (!warned) this.opts.log.warn({ nats: this.opts.url, err: (err as Error).message }, 'NATS unreachable; serving alone, retrying');
        warned = true;
        await new Promise<void>((resolve) => {
          this.retry = setTimeout(resolve, CONNECT_RETRY_MS);
        });
      }
    }
    if (!nc) return;
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.online = true;
    this.opts.log.info({ nats: this.opts.url, node: this.opts.node, exam: this.opts.exam }, 'joined the cluster');
    this.control = nc.subscribe(controlSubject(this.opts.node), {
      callback: (err, msg) => {
        if (err) return;
        const reply = this.handler.handle(msg.data);
        if (msg.reply) msg.respond(encode(reply satisfies AdminReply));
      },
    });
    void this.watchStatus(nc);
    this.opts.sessions?.use(nc);
    await this.heartbeat();
    this.summary();
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        this.online = false;
        this.opts.log.warn({ nats: this.opts.url }, 'lost NATS; serving on, reconnecting');
        // Admissions must not wait on a bus that is not there: new sessions start locally until it is back.
        this.opts.sessions?.use(null);
      } else if (s.type === Events.Reconnect) {
        this.online = true;
        this.opts.log.info({ nats: this.opts.url }, 'NATS is back; republishing this node');
        // A restarted NATS may have lost the bucket: register from scratch.
        this.kv = null;
        this.opts.sessions?.use(nc);
        await this.heartbeat();
        this.summary();
      }
    }
  }

  private load(): NodeLoad {
    const now = process.hrtime.bigint();
    const usage = process.cpuUsage();
    const wallUs = Number(now - this.cpu.at) / 1000;
    if (wallUs >= 500_000) {
      const used = usage.user - this.cpu.usage.user + usage.system - this.cpu.usage.system;
      this.cpu = { usage, at: now, percent: Math.round((used / wallUs) * 1000) / 10 };
    }
    return {
      candidates: this.opts.target.status().candidates.length,
      cpu_percent: this.cpu.percent,
      rss_mb: Math.round(process.memoryUsage().rss / 1048576),
      loadavg_1m: Math.round(os.loadavg()[0]! * 100) / 100,
    };
  }

  private async heartbeat(): Promise<void> {
    const nc = this.nc;
    // Offline, a beat would only wait for its timeout; one at a time, so a slow bus never piles them up.
    if (!nc || this.closed || !this.connected || this.beating) return;
    this.beating = true;
    const record: NodeRecord = {
      node: this.opts.node,
      exam: this.opts.exam,
      listen: this.opts.listen,
      version: this.opts.version,
      started_at: this.startedAt,
      heartbeat_at: new Date().toISOString(),
      load: this.load(),
      detection: this.opts.target.status().detection,
    };
    try {
      this.kv ??= await nc.jetstream().views.kv(NODES_BUCKET, { ttl: NODE_TTL_MS, history: 1 });
      await this.kv.put(this.opts.node, encode(record));
    } catch (err) {
      // Reported once per outage by watchStatus; the next beat tries again (and recreates the bucket if it went).
      this.kv = null;
      this.opts.log.debug({ err: (err as Error).message }, 'heartbeat not stored');
    } finally {
      this.beating = false;
    }
  }

  private send(subject: string, data: Uint8Array): void {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    try {
      nc.publish(subject, data);
      this.sent.messages++;
      this.sent.bytes += data.length;
    } catch (err) {
      this.opts.log.debug({ err }, 'bus publish failed');
    }
  }

  private publish(msg: BusMessage): void {
    this.send(this.subject, encode(msg));
  }

  private onEvent(event: ServerEvent): void {
    this.publish({ type: 'event', node: this.opts.node, exam: this.opts.exam, event });
  }

  private summary(): void {
    // Offline summaries would be stale when the bus delivers them; the first one after the reconnect says it all.
    if (!this.connected) return;
    const status = this.opts.target.status();
    this.publish({ type: 'summary', node: this.opts.node, exam: this.opts.exam, at: new Date().toISOString(), candidates: status.candidates.map((c) => c.id), load: this.load(), detection: status.detection, watching: this.handler.watching });
  }

  /** Leaves the cluster: the node's key goes at once (not after the TTL), subscriptions and timers end. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.opts.sessions?.settle();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retry) clearTimeout(this.retry);
    this.opts.sessions?.close();
    this.unsubscribe?.();
    this.handler.close();
    this.control?.unsubscribe();
    const nc = this.nc;
    if (!nc) return;
    try {
      if (this.kv && this.connected) await this.kv.delete(this.opts.node);
    } catch {
      // NATS unreachable: the TTL removes the key.
    }
    // Drain only a live connection: with NATS away a drain would wait for it forever.
    if (this.connected) await Promise.race([nc.drain(), new Promise((r) => setTimeout(r, CLOSE_DRAIN_MS).unref())]).catch(() => undefined);
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
  }
}
