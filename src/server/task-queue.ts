/**
 * Runs at most `limit` tasks at once, the rest in arrival order. Used for the subtitle muxes: each is an ffmpeg
 * rewrite of a whole recording, and 200 candidates ending at once must not start 200 of them.
 */
export class TaskQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Most tasks seen running at once (for tests and logs). */
  peak = 0;

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError('a task queue needs a limit of at least 1');
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves or rejects as `task` does, once it has had its turn. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next in line, so a newcomer can never slip in between.
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    this.peak = Math.max(this.peak, this.running);
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
