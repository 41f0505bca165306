/**
 * Coalesces requests for a refresh, so a burst of events costs one status request instead of one each. A request
 * starts a refresh `delayMs` later; requests made meanwhile, or while a refresh is running, fold into that one or
 * into a single next one. Refreshes never overlap.
 */
export class CoalescedRefresh {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  private closed = false;

  /** `refresh` handles its own errors; one that escapes is a bug and surfaces as an unhandled rejection. */
  constructor(
    private readonly refresh: () => Promise<void>,
    private readonly delayMs: number,
  ) {}

  request(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.timer ??= setTimeout(() => void this.run(), this.delayMs);
  }

  private async run(): Promise<void> {
    this.timer = null;
    this.running = true;
    try {
      await this.refresh();
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.request();
      }
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
