/**
 * Redraws on request, at most once per `keyIntervalMs`: what a key changed is drawn on the next turn of the event
 * loop when the last redraw is old enough, otherwise as soon as the interval allows. Changes nobody is waiting
 * for (events, status polls) wait up to `lazyIntervalMs` and share a redraw, so a busy exam leaves CPU for keys.
 */
export class RenderThrottle {
  private last = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private due = Infinity;
  private closed = false;

  constructor(
    private readonly render: () => void,
    private readonly keyIntervalMs: number,
    private readonly lazyIntervalMs: number,
  ) {}

  /** `urgent`: a person is waiting for this change (a key). */
  request(urgent = false): void {
    if (this.closed) return;
    const due = this.last + (urgent ? this.keyIntervalMs : this.lazyIntervalMs);
    if (this.timer && this.due <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = due;
    // A zero delay still waits for the current handler to finish its changes, which then share the redraw.
    this.timer = setTimeout(() => this.run(), Math.max(0, due - performance.now()));
  }

  private run(): void {
    this.timer = null;
    this.due = Infinity;
    if (this.closed) return;
    this.last = performance.now();
    this.render();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
