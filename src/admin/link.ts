import type { AdminReply, AdminRequest, EndedSession, ListenChunk, PreviewFrame, ServerEvent, ServerStatus } from '../protocol';

/** An admin request without its correlation number (the link numbers its own requests). */
export type RequestBody = AdminRequest extends infer R ? (R extends AdminRequest ? Omit<R, 'req'> : never) : never;

/**
 * What the console and `vigil status` need of a server: the local admin socket (AdminClient) is one source,
 * the NATS cluster (cluster/remote-admin) another. The console is written once against this.
 */
export interface AdminLink {
  /** Where this link points, for the console's messages ("recordings/vigil.sock", "nats://host:4222"). */
  readonly where: string;
  request(body: RequestBody): Promise<AdminReply>;
  status(): Promise<ServerStatus>;
  /** Sessions the server (or every node) has finalised since it started, for the console's `e`. */
  ended(): Promise<EndedSession[]>;
  command(body: RequestBody): Promise<void>;
  subscribe(listener: (e: ServerEvent) => void): Promise<void>;
  onFrame(listener: (f: PreviewFrame) => void): () => void;
  onAudio(listener: (a: ListenChunk) => void): () => void;
  onClosed(listener: (why: string) => void): void;
  close(): void;
}
