/**
 * What the watchdog needs from a transport: bytes accepted for sending that have not yet left for the peer.
 * A net.Socket, a tls.TLSSocket and a WebSocket's buffered amount all give this.
 */
export interface OutboundQueue {
  readonly queuedBytes: number;
}

/**
 * Decides when a peer has stopped reading its replies: bytes have stayed queued with no progress at all for
 * `timeoutMs`. Progress is measured, not signalled: 'drain' only follows a write() that returned false, and a
 * TLS socket keeps every small write queued for a tick (encryption is asynchronous) without ever returning
 * false, so waiting for 'drain' after any queued write condemns a TLS peer that reads everything.
 */
export class ReplyWatchdog {
  /** Bytes handed to the transport so far, and how many of them had left when progress was last seen. */
  private written = 0;
  private flushedSeen = 0;
  private progressAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly queue: OutboundQueue,
    private readonly timeoutMs: number,
    private readonly onStall: (queuedBytes: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Call after handing `bytes` to the transport. */
  wrote(bytes: number): void {
    if (this.closed) return;
    this.written += bytes;
    if (this.queue.queuedBytes === 0) {
      this.flushedSeen = this.written;
      return;
    }
    if (!this.timer) {
      this.progressAt = this.now();
      this.flushedSeen = this.written - this.queue.queuedBytes;
      // Checked four times per timeout, so a stall is caught between 1 and 1.25 timeouts after the last progress.
      this.timer = setInterval(() => this.check(), Math.max(10, this.timeoutMs / 4));
      this.timer.unref();
    }
  }

  private check(): void {
    const queued = this.queue.queuedBytes;
    const flushed = this.written - queued;
    if (queued === 0) {
      this.disarm();
      this.flushedSeen = flushed;
      return;
    }
    const t = this.now();
    if (flushed > this.flushedSeen) {
      this.flushedSeen = flushed;
      this.progressAt = t;
      return;
    }
    if (t - this.progressAt >= this.timeoutMs) {
      this.close();
      this.onStall(queued);
    }
  }

  private disarm(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.closed = true;
    this.disarm();
  }
}
