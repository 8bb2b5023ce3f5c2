import { changedScopes } from '../../core/document-marks.ts';
import { isMvmError } from '../../core/errors.ts';
import type { Logger } from '../../ports/logger.ts';
import type { GenerationRepo } from '../../ports/store.ts';
import type { ChangeNotifier, DocumentChange } from '../desired/change-notifier.ts';
import type { ScheduleOutcome } from './scheduler-service.ts';

export interface AfterWriteDeps {
  scheduler: { schedule(): Promise<ScheduleOutcome> };
  notifier: ChangeNotifier;
  /** The store's document marks, for watchers on other replicas (core/document-marks.ts). */
  marks?: Pick<GenerationRepo, 'markChanged'>;
  logger?: Logger;
}

const unique = (values: readonly string[]) => [...new Set(values)];

/** The documents a scheduling pass changed: where it placed, and the tenants it touched. */
function placementChange(outcome: ScheduleOutcome): DocumentChange {
  const keys = [
    ...outcome.placed.map((p) => p.instance),
    ...outcome.slept.map((s) => s.instance),
    ...outcome.released,
  ];
  return {
    nodes: unique(outcome.placed.map((p) => p.nodeId)),
    tenants: unique(keys.map((key) => key.split('/')[0] ?? '')),
  };
}

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

  /** The write changed these documents. */
  wake(change: DocumentChange): void {
    this.deps.notifier.notify(change);
    const scopes = changedScopes(change);
    if (scopes.length === 0 || !this.deps.marks) return;
    // Not awaited: local watchers are woken above; other replicas' watchers see the marks
    // move on their next poll, or recompute anyway within the cache's refresh bound.
    this.deps.marks.markChanged(scopes).catch((err: unknown) => {
      this.deps.logger?.warn(
        { err, scopes },
        'document marks not bumped; other replicas refresh later',
      );
    });
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
   * no failure of the caller's.
   */
  async place(change: DocumentChange): Promise<void> {
    let placed: DocumentChange = {};
    try {
      placed = placementChange(await this.deps.scheduler.schedule());
    } catch (error) {
      if (!(isMvmError(error) && error.code === 'conflict')) throw error;
    } finally {
      this.wake(merged(change, placed));
    }
  }
}
