/**
 * How much of the agent one guest channel may use: a token bucket over what its bytes cost to
 * handle (each frame costs FRAME_COST bytes more, so a flood of empty frames is as dear as
 * bulk output). Over budget, the connection stops reading the socket until the bucket refills:
 * the guest's writes block in the kernel, and the agent's event loop stays free for the other
 * instances' channels.
 */
export interface IngressBudget {
  /** Cost units (bytes) per second, sustained. */
  ratePerSec: number;
  /** What may arrive at once after a quiet spell. */
  burst: number;
}

/** A frame's handling (routing, a handler call) counted as this many bytes. */
export const FRAME_COST = 1024;

/** 32 MiB/s of output, or 32k small frames/s; a guest under TCG makes far less. */
export const DEFAULT_INGRESS: IngressBudget = {
  ratePerSec: 32 * 1024 * 1024,
  burst: 4 * 1024 * 1024,
};

export class IngressLimit {
  private tokens: number;
  private at: number;
  /** Everything charged so far (tests and stats). */
  total = 0;

  constructor(
    private readonly budget: IngressBudget,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.tokens = budget.burst;
    this.at = nowMs();
  }

  /** Charges a chunk and its frames; returns how long to stop reading (0: go on). */
  charge(bytes: number, frames: number): number {
    const now = this.nowMs();
    const refill = ((now - this.at) / 1000) * this.budget.ratePerSec;
    this.tokens = Math.min(this.budget.burst, this.tokens + refill);
    this.at = now;
    const cost = bytes + frames * FRAME_COST;
    this.tokens -= cost;
    this.total += cost;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.budget.ratePerSec) * 1000);
  }
}
