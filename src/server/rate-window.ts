/** Counts of recent events over a sliding window, for "fps in the last 5 s" style figures. */
export class RateWindow {
  private times: number[] = [];
  private amounts: number[] = [];
  private head = 0;
  private sum = 0;

  constructor(private readonly windowMs = 5_000) {}

  add(amount: number, now = performance.now()): void {
    this.times.push(now);
    this.amounts.push(amount);
    this.sum += amount;
    this.trim(now);
  }

  private trim(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.times.length && this.times[this.head]! < cutoff) {
      this.sum -= this.amounts[this.head]!;
      this.head++;
    }
    // Compact now and then so the arrays do not grow for the life of a session.
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.amounts = this.amounts.slice(this.head);
      this.head = 0;
    }
  }

  /** Amount per second over the window, or over `ageMs` when the source is younger than the window. */
  perSecond(ageMs: number, now = performance.now()): number {
    this.trim(now);
    const span = Math.min(this.windowMs, Math.max(ageMs, 1));
    return (this.sum * 1000) / span;
  }
}
