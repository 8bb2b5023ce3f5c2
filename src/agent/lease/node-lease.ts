import { DEFAULT_NODE_LOST_AFTER_MS } from '../../core/node-loss.ts';
import { leaseFor, leaseState, type LeaseState } from '../../core/node-lease.ts';
import type { Clock } from '../../ports/clock.ts';

interface Renewal {
  /** When the renewing heartbeat was sent (ms since the epoch, on this agent's clock). */
  at: number;
  leaseMs: number;
  generation?: number;
}

/** What the agent loop needs of the lease: its state against a document, and how often to look. */
export interface LeaseView {
  state(documentGeneration: number): LeaseState;
  readonly checkEveryMs: number;
}

/**
 * This agent's lease with its coordinator (core/node-lease.ts): renewed by every answered
 * heartbeat, for the length that answer grants. Until the first answer the lease counts from
 * the agent's start, for the default length (an answer from an older coordinator carries none).
 */
export class NodeLease implements LeaseView {
  private renewal: Renewal | undefined;
  private readonly startedAt: number;

  constructor(
    private readonly clock: Clock,
    private readonly defaultLeaseMs = leaseFor(DEFAULT_NODE_LOST_AFTER_MS),
  ) {
    this.startedAt = clock.now().getTime();
  }

  /** A heartbeat sent at `sentAt` was answered: the lease runs from then. */
  renewed(sentAt: Date, leaseMs: number | undefined, generation: number | undefined): void {
    const at = sentAt.getTime();
    // Heartbeats go one at a time, but never let a late answer move the lease back.
    if (this.renewal && this.renewal.at > at) return;
    this.renewal = {
      at,
      leaseMs: leaseMs ?? this.defaultLeaseMs,
      ...(generation !== undefined ? { generation } : {}),
    };
  }

  get leaseMs(): number {
    return this.renewal?.leaseMs ?? this.defaultLeaseMs;
  }

  /** When the lease runs out unless renewed (ms since the epoch, this agent's clock). */
  expiresAt(): number {
    return (this.renewal?.at ?? this.startedAt) + this.leaseMs;
  }

  /** Often enough that an expiry is acted on within a small part of the fence margin. */
  get checkEveryMs(): number {
    return Math.min(1_000, Math.max(20, Math.floor(this.leaseMs / 10)));
  }

  state(documentGeneration: number): LeaseState {
    return leaseState({
      now: this.clock.now().getTime(),
      startedAt: this.startedAt,
      ...(this.renewal ? { renewedAt: this.renewal.at } : {}),
      leaseMs: this.leaseMs,
      ...(this.renewal?.generation !== undefined
        ? { issuedGeneration: this.renewal.generation }
        : {}),
      documentGeneration,
    });
  }
}
