import { changedScopes } from '../../core/document-marks.ts';
import type { AuditEvent } from '../../core/model.ts';
import type { Repos } from '../../ports/store.ts';
import type { DocumentChange } from '../desired/change-notifier.ts';

/**
 * Inside the writing transaction, as its last statement: moves the document marks of every
 * scope the write changed (core/document-marks.ts), so the change and the marks that announce
 * it to other replicas' watchers commit together or not at all. Last, because a mark row is
 * locked from its bump to the commit: a hot one (a node many passes place onto) is then held
 * for one round trip. One call per transaction, so its rows are locked in one sorted order.
 * With `audit`, the write's audit event goes with the marks (one statement on Postgres).
 */
export async function markDocuments(
  repos: Pick<Repos, 'generations'>,
  change: DocumentChange,
  audit?: Omit<AuditEvent, 'id'>,
): Promise<void> {
  const scopes = changedScopes(change);
  if (scopes.length > 0 || audit) await repos.generations.markChanged(scopes, audit);
}

/**
 * `markDocuments`, then whether the scheduler has work as the transaction sees it after its
 * writes (`markChangedProbing`: on Postgres in the marks' statement). A write answered false
 * skips the scheduler's probe after its commit (`AfterWrite.place`'s `work`).
 */
export function markDocumentsProbing(
  repos: Pick<Repos, 'generations'>,
  change: DocumentChange,
  audit?: Omit<AuditEvent, 'id'>,
): Promise<boolean> {
  return repos.generations.markChangedProbing(changedScopes(change), audit);
}
