/**
 * Per-caller limits of an endpoint every guest reaches (the metadata server): a request rate
 * with a burst, and a number of open connections. Keyed by source address, which the bridges'
 * anti-spoofing rules make an instance's own, so one guest's flood spends only its own budget.
 */
export interface CallerLimitSettings {
  /** Requests per second, sustained. */
  ratePerSec: number;
  /** Requests at once after a quiet spell. */
  burst: number;
  /** Open connections per caller; more are closed at once. */
  connections: number;
}

export const DEFAULT_CALLER_LIMITS: CallerLimitSettings = {
  ratePerSec: 20,
  burst: 40,
  connections: 8,
};

interface Bucket {
  tokens: number;
  at: number;
  open: number;
}

/** Callers not seen for this long are forgotten (their bucket would be full again anyway). */
const IDLE_MS = 60_000;

export class CallerLimits {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly settings: CallerLimitSettings = DEFAULT_CALLER_LIMITS,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** Counts a new connection; false when the caller already holds its share. */
  connect(caller: string): boolean {
    const bucket = this.bucket(caller);
    if (bucket.open >= this.settings.connections) return false;
    bucket.open += 1;
    return true;
  }

  disconnect(caller: string): void {
    const bucket = this.buckets.get(caller);
    if (bucket) bucket.open = Math.max(0, bucket.open - 1);
  }

  /** Takes one request from the caller's budget: 0 when allowed, else ms until one is. */
  request(caller: string): number {
    const bucket = this.bucket(caller);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.settings.ratePerSec) * 1000);
  }

  private bucket(caller: string): Bucket {
    const now = this.nowMs();
    const known = this.buckets.get(caller);
    if (!known) {
      this.forgetIdle(now);
      const fresh = { tokens: this.settings.burst, at: now, open: 0 };
      this.buckets.set(caller, fresh);
      return fresh;
    }
    const refill = ((now - known.at) / 1000) * this.settings.ratePerSec;
    known.tokens = Math.min(this.settings.burst, known.tokens + refill);
    known.at = now;
    return known;
  }

  private forgetIdle(now: number): void {
    for (const [caller, bucket] of this.buckets) {
      if (bucket.open === 0 && now - bucket.at > IDLE_MS) this.buckets.delete(caller);
    }
  }
}
