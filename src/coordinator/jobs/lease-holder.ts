import { ConflictError } from '../../core/errors.ts';
import type { Store } from '../../ports/store.ts';

export function lostLease(id: string): ConflictError {
  return new ConflictError(
    `job ${id}: this worker no longer holds its lease (it expired, or the job was taken over or cancelled); stop working on it`,
    { reason: 'lease_lost' },
  );
}

/**
 * A node acts only on jobs leased to one of its workers (`worker` is `<node>/<instance>`).
 * The token is what fences each write; this keeps one node's certificate from writing with
 * a token it learned from another node's worker. The worker changes only with the token, so
 * checking it before the fenced write is enough.
 */
export async function requireHolder(store: Store, nodeId: string, jobId: string): Promise<void> {
  const job = await store.jobs.get(jobId);
  if (job === undefined || job.worker === null || !job.worker.startsWith(`${nodeId}/`)) {
    throw lostLease(jobId);
  }
}
