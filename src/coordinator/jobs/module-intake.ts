import { createHash } from 'node:crypto';
import { checkJobModule } from '../../core/jobs/module-check.ts';
import type { CheckedModule, ModuleLimits } from '../../core/jobs/module-check.ts';
import type { Repos } from '../../ports/store.ts';

export interface StoredModule extends CheckedModule {
  sha256: string;
  /** False when the tenant had stored these bytes before. */
  created: boolean;
}

/**
 * Checks a submitted module against ABI v1 and the tenant's limits, then stores it under the
 * sha256 of its bytes. A refused module throws ValidationError (400) before anything is
 * written. Call it in the transaction that inserts the job, so a module is never stored for a
 * job that was not.
 */
export async function storeJobModule(
  repos: Pick<Repos, 'jobModules'>,
  tenantId: string,
  bytes: Uint8Array,
  limits: ModuleLimits,
  at: string,
): Promise<StoredModule> {
  const checked = checkJobModule(bytes, limits);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const created = await repos.jobModules.put({ tenantId, sha256, bytes, createdAt: at });
  return { ...checked, sha256, created };
}
