// The per-connection message rate limit: a token bucket that refills at the allowed rate and holds twice that, so
// short bursts pass. Apart from connection.ts, which drops the candidate when the bucket runs dry.
export class MessageRate {
  private tokens: number;
  private tokensAt = performance.now();

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond * 2;
  }

  /** Takes `n` messages from the bucket; false when the connection is over its rate. */
  take(n: number): boolean {
    const rate = this.perSecond;
    const now = performance.now();
    this.tokens = Math.min(rate * 2, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    this.tokens -= n;
    return this.tokens >= 0;
  }
}
