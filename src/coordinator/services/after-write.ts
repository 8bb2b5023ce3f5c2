import { isMvmError } from '../../core/errors.ts';
import type { ChangeNotifier, DocumentChange } from '../desired/change-notifier.ts';
import { placementChange } from './placement-change.ts';
import type { ScheduleOptions, ScheduleOutcome } from './scheduler-service.ts';

export interface AfterWriteDeps {
  scheduler: { schedule(options?: ScheduleOptions): Promise<ScheduleOutcome> };
  notifier: ChangeNotifier;
}

const unique = (values: readonly string[]) => [...new Set(values)];

function merged(a: DocumentChange, b: DocumentChange): DocumentChange {
  return {
    nodes: unique([...(a.nodes ?? []), ...(b.nodes ?? [])]),
    tenants: unique([...(a.tenants ?? []), ...(b.tenants ?? [])]),
    fleet: a.fleet === true || b.fleet === true,
  };
}

/**
 * What follows a committed write, in one place for every service: placement when the write
 * changed intent or capacity, and waking the watchers of exactly the documents the write and
 * the placement changed. A write that changes no document (most status reports, quotas,
 * tokens) wakes nobody.
 */
export class AfterWrite {
  constructor(private readonly deps: AfterWriteDeps) {}

  /**
   * The write changed these documents: this replica's watchers of them wake now. Other
   * replicas' watchers learn of it from the document marks the write moved in its own
   * transaction (services/mark-documents.ts), so nothing here can lose it.
   */
  wake(change: DocumentChange): void {
    this.deps.notifier.notify(change);
  }

  /**
   * Runs a write that changes documents (a scale, an instance's action, a queue's growth, an
   * idle pass's lowering, with the placement after it) counted as a write in progress
   * (desired/write-activity.ts), so a hot node's document is recomputed in a pause between
   * writes, not in the middle of one.
   */
  writing<T>(work: () => Promise<T>): Promise<T> {
    return this.deps.notifier.writes.run(work);
  }

  /** A scheduling pass, then the watchers of what it placed, slept or released wake. */
  async schedule(): Promise<ScheduleOutcome> {
    const outcome = await this.deps.scheduler.schedule();
    this.wake(placementChange(outcome));
    return outcome;
  }

  /**
   * The write changed intent or capacity (and `change`): place what now fits, then wake the
   * watchers of both, even when placement failed. The write itself is committed, and a
   * placement that lost a race with another replica is redone by the next pass, so that is
   * no failure of the caller's. `options`: what the pass must do that its probe does not see,
   * or the probe's answer from the write's own transaction (`SchedulerService.schedule`).
   */
  async place(change: DocumentChange, options: ScheduleOptions = {}): Promise<void> {
    let placed: DocumentChange = {};
    try {
      placed = placementChange(await this.deps.scheduler.schedule(options));
    } catch (error) {
      if (!(isMvmError(error) && error.code === 'conflict')) throw error;
    } finally {
      this.wake(merged(change, placed));
    }
  }
}
