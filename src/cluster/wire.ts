/**
 * What travels on the NATS bus between `vigil serve --nats` nodes and the tools that watch them: subject names,
 * the node record kept in a JetStream KV bucket with a TTL, event envelopes, and control requests (the admin
 * socket's own request/reply objects, plus the inbox a preview or listen-in streams to).
 * Everything read from the bus is checked here before it is used: the bus is a network boundary.
 */
import {
  AdminProtocolError,
  parseAdminReply,
  parseAdminRequest,
  type AdminReply,
  type AdminRequest,
  type DetectionStatus,
  type ServerEvent,
} from '../protocol';

/** Live nodes: one key per node, refreshed by its heartbeat; the bucket's TTL removes a node that stopped beating. */
export const NODES_BUCKET = 'vigil_nodes';
export const HEARTBEAT_MS = 2_000;
/** A node missing three heartbeats is gone (and out of status well within the 10 s the issue asks). */
export const NODE_TTL_MS = 6_000;
/** A preview or listen-in stops unless the watcher renews it this often: a console that died stops the flow. */
export const WATCH_LEASE_MS = 10_000;
export const WATCH_RENEW_MS = 3_000;
export const DEFAULT_EXAM = 'default';

/** Node and exam names are single subject tokens and KV keys. */
const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function nameProblem(name: string): string | null {
  return NAME_RE.test(name) ? null : 'use 1 to 64 letters, digits, "_" or "-"';
}

export function eventsSubject(exam: string, node: string): string {
  return `vigil.events.${exam}.${node}`;
}
export const ALL_EVENTS = 'vigil.events.>';

export function controlSubject(node: string): string {
  return `vigil.ctl.${node}`;
}

export interface NodeLoad {
  candidates: number;
  /** This node's process CPU over the last heartbeat, in percent of one core. */
  cpu_percent: number;
  rss_mb: number;
  loadavg_1m: number;
}

export interface NodeRecord {
  node: string;
  exam: string;
  /** Where candidates reach this node (host:port). */
  listen: string;
  version: string;
  started_at: string;
  heartbeat_at: string;
  load: NodeLoad;
  detection: DetectionStatus;
}

export type BusMessage =
  | { type: 'event'; node: string; exam: string; event: ServerEvent }
  | {
      type: 'summary';
      node: string;
      exam: string;
      at: string;
      candidates: string[];
      load: NodeLoad;
      detection: DetectionStatus;
      /** Previews and listen-ins streaming from this node now (0 when nobody watches). */
      watching: number;
    };

/** A control request: the admin socket's request, and for preview/listen the subject the frames go to. */
export type ControlRequest = { request: AdminRequest; to: string | null };

export class BusFormatError extends Error {
  readonly code = 'VIGIL_ERR_BUS_MESSAGE';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function json(data: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    throw new BusFormatError(`${what} is not JSON`);
  }
  if (!isRecord(v)) throw new BusFormatError(`${what} is not a JSON object`);
  return v;
}

function str(v: Record<string, unknown>, key: string, what: string): string {
  const s = v[key];
  if (typeof s !== 'string') throw new BusFormatError(`${what} lacks a string "${key}"`);
  return s;
}

function num(v: Record<string, unknown>, key: string, what: string): number {
  const n = v[key];
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new BusFormatError(`${what} lacks a number "${key}"`);
  return n;
}

function load(v: unknown, what: string): NodeLoad {
  if (!isRecord(v)) throw new BusFormatError(`${what} lacks "load"`);
  return { candidates: num(v, 'candidates', what), cpu_percent: num(v, 'cpu_percent', what), rss_mb: num(v, 'rss_mb', what), loadavg_1m: num(v, 'loadavg_1m', what) };
}

function detection(v: unknown, what: string): DetectionStatus {
  if (!isRecord(v)) throw new BusFormatError(`${what} lacks "detection"`);
  const state = v['state'];
  if (state === 'off' || state === 'up') return { state };
  if (state === 'down') return { state, reason: str(v, 'reason', what), since: str(v, 'since', what) };
  throw new BusFormatError(`${what} has an unknown detection state`);
}

function event(v: unknown, what: string): ServerEvent {
  // The kinds and fields are the admin socket's; the envelope's origin is a vigil node, checked for shape here.
  if (!isRecord(v) || typeof v['kind'] !== 'string' || typeof v['at'] !== 'string') throw new BusFormatError(`${what} has no event`);
  return v as unknown as ServerEvent;
}

export function encode(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

export function parseNodeRecord(data: Uint8Array): NodeRecord {
  const what = 'node record';
  const v = json(data, what);
  return {
    node: str(v, 'node', what),
    exam: str(v, 'exam', what),
    listen: str(v, 'listen', what),
    version: str(v, 'version', what),
    started_at: str(v, 'started_at', what),
    heartbeat_at: str(v, 'heartbeat_at', what),
    load: load(v['load'], what),
    detection: detection(v['detection'], what),
  };
}

export function parseBusMessage(data: Uint8Array): BusMessage {
  const what = 'bus message';
  const v = json(data, what);
  const node = str(v, 'node', what);
  const exam = str(v, 'exam', what);
  if (v['type'] === 'event') return { type: 'event', node, exam, event: event(v['event'], what) };
  if (v['type'] === 'summary') {
    const ids = v['candidates'];
    if (!Array.isArray(ids) || !ids.every((i): i is string => typeof i === 'string')) throw new BusFormatError(`${what} lacks "candidates"`);
    return { type: 'summary', node, exam, at: str(v, 'at', what), candidates: ids, load: load(v['load'], what), detection: detection(v['detection'], what), watching: num(v, 'watching', what) };
  }
  throw new BusFormatError(`${what} has an unknown type`);
}

export function encodeControl(request: AdminRequest, to: string | null): Uint8Array {
  return encode({ ...request, ...(to ? { to } : {}) });
}

/** Throws AdminProtocolError (bad_request) for anything the admin socket itself would refuse. */
export function parseControl(data: Uint8Array): ControlRequest {
  const text = Buffer.from(data).toString('utf8');
  const request = parseAdminRequest(text);
  const to = (JSON.parse(text) as Record<string, unknown>)['to'];
  if (to !== undefined && (typeof to !== 'string' || !/^[A-Za-z0-9_.-]{1,200}$/.test(to))) {
    throw new AdminProtocolError('bad_request', '"to" must be a subject');
  }
  return { request, to: typeof to === 'string' ? to : null };
}

export function parseReply(data: Uint8Array): AdminReply {
  try {
    return parseAdminReply(Buffer.from(data).toString('utf8'));
  } catch (err) {
    throw new BusFormatError((err as Error).message);
  }
}
