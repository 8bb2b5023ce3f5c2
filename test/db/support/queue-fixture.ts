import { createHash, randomBytes } from 'node:crypto';
import type { Job } from '../../../src/core/jobs/job.ts';
import type { ClaimRequest } from '../../../src/ports/job-store.ts';
import type { Store } from '../../../src/ports/store.ts';
import { queuedJob } from '../../core/jobs/job-fixture.ts';
import { T0 } from '../fixtures.ts';

/** The queue tests' module: its bytes' sha256 names it; the store only keeps the reference. */
export const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
export const sha256 = createHash('sha256').update(bytes).digest('hex');
export const LEASE_MS = 30_000;

/** `seconds` after T0. */
export function at(seconds: number): string {
  return new Date(Date.parse(T0) + seconds * 1000).toISOString();
}

/** A claim of one job by worker w-1 at T0 + 1 s with a fresh token. */
export function claim(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    worker: 'w-1',
    at: at(1),
    leaseMs: LEASE_MS,
    limit: 1,
    token: randomBytes(16).toString('hex'),
    ...overrides,
  };
}

/** `count` queued jobs of the tenant (acme unless overridden), due at T0. */
export async function submit(
  store: Store,
  count: number,
  overrides: Partial<Job> = {},
): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const id = `${overrides.tenantId ?? 'acme'}-${String(i).padStart(4, '0')}`;
    await store.jobs.insert(queuedJob({ id, moduleSha256: sha256, runAt: T0, ...overrides }));
  }
}
