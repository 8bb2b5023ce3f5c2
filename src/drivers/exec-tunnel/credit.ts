/**
 * Credit-based flow control for session streams, the same rule the guest channel follows
 * (docs/guest-protocol.md): a sender may have at most `window` bytes the receiver has not yet
 * handed on; the receiver grants more as its consumer takes them. Every hop keeps to it, so
 * nothing on the path holds more than a window per session, however slow the last reader is.
 */

/** The sending side: how much may still be sent, and a wait for more. */
export class SendCredit {
  private waiters: Array<() => void> = [];
  private stopped = false;

  constructor(private left: number) {}

  get available(): number {
    return this.stopped ? 0 : this.left;
  }

  spend(bytes: number): void {
    this.left -= bytes;
  }

  grant(bytes: number): void {
    this.left += bytes;
    this.wake();
  }

  /** Resolves once there is credit (or the stream stopped: check `stopped`). */
  async ready(): Promise<void> {
    while (!this.stopped && this.left <= 0) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** No more credit will come: wakes every waiter for good. */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

/**
 * The receiving side: counts what arrives and what the consumer took, and grants the sender
 * more once a quarter of the window is free again (fewer, larger credit messages).
 */
export class ReceiveCredit {
  private received = 0;
  private consumed = 0;
  private granted: number;

  constructor(
    readonly window: number,
    private readonly send: (bytes: number) => void,
  ) {
    this.granted = window;
  }

  /** Counts arriving bytes; false when the sender went past the credit it was given. */
  receive(bytes: number): boolean {
    this.received += bytes;
    return this.received <= this.granted;
  }

  /** The consumer took `bytes`; grants more when enough is free. */
  consume(bytes: number): void {
    this.consumed += bytes;
    const allowed = this.consumed + this.window;
    if (allowed - this.granted < this.window / 4) return;
    this.send(allowed - this.granted);
    this.granted = allowed;
  }

  /** What arrived and is not consumed yet. */
  get held(): number {
    return this.received - this.consumed;
  }
}

/**
 * A relay's account of one direction: what the far sender may still send. Credit from the
 * receiver is passed on only up to the window (a client cannot open the path wider than it
 * asked), and a sender that overdraws is a protocol error.
 */
export class CreditLedger {
  private left: number;

  constructor(readonly window: number) {
    this.left = window;
  }

  /** False when `bytes` is more than the sender was allowed. */
  spend(bytes: number): boolean {
    this.left -= bytes;
    return this.left >= 0;
  }

  /** The part of `bytes` to pass on to the sender (0 when its window is already open). */
  grant(bytes: number): number {
    const passed = Math.max(0, Math.min(bytes, this.window - this.left));
    this.left += passed;
    return passed;
  }

  /** Bytes sent and not yet consumed downstream (what the relay's next hop may hold). */
  get inFlight(): number {
    return this.window - this.left;
  }
}
