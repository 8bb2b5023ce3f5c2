import type { Job } from '../../../src/core/jobs/job.ts';

export const SHA = 'a'.repeat(64);

/** A queued job due at 2025-01-01T00:00:00Z. */
export function queuedJob(overrides: Partial<Job> = {}): Job {
  return {
    id: 'j-1',
    tenantId: 'acme',
    poolId: 'ci',
    moduleSha256: SHA,
    input: '{"n":1}',
    state: 'queued',
    priority: 0,
    attempts: 0,
    failedAttempts: 0,
    lostAttempts: 0,
    maxAttempts: 3,
    runAt: '2025-01-01T00:00:00.000Z',
    leaseToken: null,
    leaseExpiresAt: null,
    worker: null,
    timeoutSecs: 600,
    startedAt: null,
    idempotencyKey: null,
    retryOf: null,
    result: null,
    errorCode: null,
    error: null,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: null,
    version: 1,
    ...overrides,
  };
}
