/**
 * Redraws on request, never more than `maxPerSecond` in any one second. What a key changed is drawn on the next
 * turn of the event loop unless that budget is spent; changes nobody is waiting for (events, status polls) wait
 * up to `lazyIntervalMs` after the last redraw and share one, so a busy exam leaves the budget to keys.
 */
export class RenderThrottle {
  /** When the most recent redraws ran, oldest first, at most `maxPerSecond` of them. */
  private readonly recent: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private due = Infinity;
  private closed = false;

  constructor(
    private readonly render: () => void,
    private readonly maxPerSecond: number,
    private readonly lazyIntervalMs: number,
  ) {}

  /** `urgent`: a person is waiting for this change (a key). */
  request(urgent = false): void {
    if (this.closed) return;
    const last = this.recent.at(-1) ?? -Infinity;
    // The budget: the redraw `maxPerSecond` ago must be a second old before another may run.
    const budget = this.recent.length >= this.maxPerSecond ? this.recent[0]! + 1000 : -Infinity;
    const due = Math.max(budget, urgent ? -Infinity : last + this.lazyIntervalMs);
    if (this.timer && this.due <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = due;
    // A zero delay still waits for the current handler to finish its changes, which then share the redraw.
    this.timer = setTimeout(() => this.run(), Math.max(0, due - performance.now()));
  }

  private run(): void {
    this.timer = null;
    if (this.closed) return;
    // Timers keep whole milliseconds and may fire a fraction early: wait out the rest rather than overspend.
    const early = this.due - performance.now();
    if (early > 0) {
      this.timer = setTimeout(() => this.run(), Math.ceil(early));
      return;
    }
    this.due = Infinity;
    this.recent.push(performance.now());
    if (this.recent.length > this.maxPerSecond) this.recent.shift();
    this.render();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
