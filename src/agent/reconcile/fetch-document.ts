import { ConflictError } from '../../core/errors.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { verifyEnvelope, type VerifiedDocument } from '../desired/verify-desired.ts';

/** The age bound and the coordinator's last generation, as the watch applies them. */
export interface FetchBounds {
  maxAgeMs: number;
  minGeneration: number;
}

/** This node's current signed document, fetched once and verified against the coordinator's key. */
export async function fetchVerifiedDocument(
  api: ApiClient,
  nodeId: string,
  trustedKeys: readonly string[],
  bounds?: FetchBounds,
): Promise<VerifiedDocument> {
  const answer = await api.call('watchNodeDesired', {
    params: { node: nodeId },
    query: { after: 0, waitMs: 0 },
  });
  if ('unchanged' in answer) {
    throw new ConflictError(
      `the coordinator has no desired-state document for node '${nodeId}' yet`,
    );
  }
  const age = bounds ? { ...bounds, nowMs: Date.now() } : {};
  return verifyEnvelope(answer, {
    trustedKeys,
    production: true,
    nodeId,
    lastGeneration: 0,
    ...age,
  });
}
