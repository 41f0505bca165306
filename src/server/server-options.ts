// What a VigilServer is configured with and the typed error it fails to start with; kept apart so server.ts holds only the behaviour.
import type { Logger } from 'pino';
import type { PayloadLimits } from '../protocol';
import type { FrameAnalyzer } from './frame-slot';
import type { SessionDirectory } from './session-part';

export interface ServerOptions {
  host: string;
  port: number;
  recordDir: string;
  /** Unix socket for `vigil status` and the console; null for none. */
  adminSocket: string | null;
  /** `tokens`: every HELLO needs a token signed with `secret` for its candidate id. `none`: for local use. */
  auth: 'none' | 'tokens';
  /** The token signing secret; required with auth `tokens`. */
  secret?: Uint8Array;
  /** PEM certificate and key: candidates then connect with TLS. */
  tls?: { cert: Buffer; key: Buffer };
  logger: Logger;
  version: string;
  limits?: Partial<PayloadLimits>;
  /** HELLO must arrive within this long after connect. Default 5000. */
  handshakeTimeoutMs?: number;
  /** A connection that sends nothing for this long is closed. Default 10000. */
  idleTimeoutMs?: number;
  /** After BYE, a peer that does not close within this long is destroyed. Default 2000. */
  closeTimeoutMs?: number;
  /** Unread replies a candidate may leave queued before it is dropped as a slow consumer. Default 1 MiB. */
  maxOutboundBytes?: number;
  /** How long a candidate whose connection died may come back into the same session. Default 30000; 0 = never. */
  resumeWindowMs?: number;
  /** Candidates recorded at once; more are refused with server_full. Default 200. */
  maxCandidates?: number;
  /** Connections from one address still in their handshake; more are refused. Default 16. */
  maxPendingPerAddress?: number;
  /** Messages per second a connection may average, bursts of twice that. Default 300. */
  maxMessagesPerSecond?: number;
  /** Unread replies older than this drop the candidate as a slow consumer. Default 10000. */
  drainTimeoutMs?: number;
  /** Recorder backlog at which reading from that candidate pauses. Default 8 MiB. */
  recorderHighWaterBytes?: number;
  analyzer?: FrameAnalyzer | null;
  /** Analyses per second per candidate when an analyzer is set. Default 5. */
  analyzeFps?: number;
  /** Seconds a face state must hold to open or close an incident. Default 1.0. */
  incidentAfterS?: number;
  /** Seconds speech (or quiet) must hold to open or close a speech incident. Default 1.0. */
  speechAfterS?: number;
  /** Subtitle muxes (ffmpeg rewrites of finished recordings) run at once; the rest wait in order. Default 2. */
  maxConcurrentMuxes?: number;
  /** While a candidate is not ok, the VERDICT is repeated this often. Default 3000. */
  verdictRepeatMs?: number;
  /** The cluster's session table (vigil serve --nats): sessions another node recorded are continued here. */
  sessions?: SessionDirectory;
}

export class ServerError extends Error {
  constructor(
    readonly code: 'VIGIL_ERR_LISTEN' | 'VIGIL_ERR_ADMIN_SOCKET',
    message: string,
  ) {
    super(message);
    this.name = 'ServerError';
  }
}
