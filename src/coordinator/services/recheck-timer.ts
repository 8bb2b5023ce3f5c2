import type { Clock } from '../../ports/clock.ts';
import type { RecheckNotes } from './pool-service.ts';
import type { PoolRef, RecheckResult } from './sleep-rechecks.ts';

export interface RecheckTimerDeps {
  clock: Clock;
  rechecks: {
    recheckPool(ref: PoolRef): Promise<RecheckResult>;
    pending(): Promise<Array<PoolRef & { at: string }>>;
  };
  /** After a pass changed these pools: place what now fits and wake the desired watchers. */
  onChange: (changed: PoolRef[]) => Promise<void>;
  onError: (error: unknown, ref?: PoolRef) => void;
}

/** A re-check that failed (a lost compare-and-set, a store hiccup) is tried again this soon. */
const RETRY_MS = 5_000;
/** setTimeout's ceiling; a later due time simply re-arms when this fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

const keyOf = (ref: PoolRef) => `${ref.tenantId}/${ref.poolId}`;

/**
 * One timer per coordinator, set for the earliest due re-check of any pool. Notes live in
 * memory: `start` rebuilds them from the store, so a restarted coordinator (or another
 * replica) picks up what was put off. Several replicas re-checking the same pool is harmless:
 * materializing is idempotent and every write is a compare-and-set.
 */
export class RecheckTimer implements RecheckNotes {
  private readonly due = new Map<string, { ref: PoolRef; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<PoolRef[]> = Promise.resolve([]);
  private closed = false;

  constructor(private readonly deps: RecheckTimerDeps) {}

  note(ref: PoolRef, at: string | undefined): void {
    if (at === undefined || this.closed) return;
    const ms = Date.parse(at);
    const known = this.due.get(keyOf(ref));
    if (Number.isNaN(ms) || (known !== undefined && known.at <= ms)) return;
    this.due.set(keyOf(ref), { ref: { tenantId: ref.tenantId, poolId: ref.poolId }, at: ms });
    this.arm();
  }

  /** Notes every pool the store says has something put off or due. */
  async start(): Promise<void> {
    for (const { at, ...ref } of await this.deps.rechecks.pending()) this.note(ref, at);
  }

  /**
   * The entry point: re-checks every noted pool whose time has come by the clock, notes what
   * is still put off and re-arms. Passes run one at a time. Returns the pools that changed.
   */
  runDue(): Promise<PoolRef[]> {
    // A pass never rejects (runPass reports its errors), so the chain cannot jam.
    this.pass = this.pass.then(() =>
      this.runPass().catch((error: unknown) => {
        this.deps.onError(error);
        return [];
      }),
    );
    return this.pass;
  }

  /** Stops the timer and waits for a pass under way, so the store can be closed after. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due.clear();
    await this.pass;
  }

  private async runPass(): Promise<PoolRef[]> {
    if (this.closed) return [];
    const now = this.deps.clock.now().getTime();
    const ready = [...this.due.values()].filter((entry) => entry.at <= now);
    const changed: PoolRef[] = [];
    for (const { ref } of ready) {
      this.due.delete(keyOf(ref));
      try {
        const result = await this.deps.rechecks.recheckPool(ref);
        if (result.changed.length > 0) changed.push(ref);
        this.note(ref, result.recheckAt);
      } catch (error) {
        this.deps.onError(error, ref);
        this.note(ref, new Date(now + RETRY_MS).toISOString());
      }
    }
    if (changed.length > 0) {
      await this.deps.onChange(changed).catch((error: unknown) => this.deps.onError(error));
    }
    this.arm();
    return changed;
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || this.due.size === 0) return;
    const next = Math.min(...[...this.due.values()].map((entry) => entry.at));
    const delay = Math.min(Math.max(0, next - this.deps.clock.now().getTime()), MAX_DELAY_MS);
    this.timer = setTimeout(() => void this.runDue(), delay);
    this.timer.unref();
  }
}
