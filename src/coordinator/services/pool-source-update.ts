import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { isActive, targetOf } from '../../core/rollout-plan.ts';
import type { Pool } from '../../core/model.ts';
import { requestedSource, sourceOf, type PoolSource } from '../../core/pool-source.ts';
import { DEV_REVISION } from '../../core/revision.ts';
import type { UpdatePoolRequest } from '../../contract/requests.ts';
import type { Repos } from '../../ports/store.ts';

/**
 * A pool's revision may only be set to one `mvm pool build` recorded for it (or `dev`, each
 * node's own dev image): anything else would break every boot that follows.
 */
export async function requireRevision(repos: Repos, pool: Pool, revision: string): Promise<void> {
  if (revision === DEV_REVISION) return;
  if (await repos.revisions.get(pool.tenantId, pool.id, revision)) return;
  throw new NotFoundError(
    'revision',
    `${pool.tenantId}/${pool.id}@${revision}`,
    `see 'mvm pool revisions ${pool.tenantId}/${pool.id}', or build one with 'mvm pool build'`,
  );
}

/** A pool in a rollout takes no other change of revision: the rollout owns it until it ends. */
export async function refuseDuringRollout(repos: Repos, pool: Pool): Promise<void> {
  const rollout = await repos.rollouts.get(pool.tenantId, pool.id);
  if (rollout && isActive(rollout.state)) {
    throw new ConflictError(
      `${pool.tenantId}/${pool.id} is in a rollout (${rollout.state} to ${targetOf(rollout)}); wait for it ('mvm pool info') or roll back ('mvm pool rollback')`,
    );
  }
}

/**
 * The source an update asks for, or undefined when it names none. `devImage` alone goes back
 * to the dev image; a flake pool may change its flake or its profile alone.
 */
export function sourceUpdate(pool: Pool, request: UpdatePoolRequest): PoolSource | undefined {
  const { image, flake, profile, devImage } = request;
  if (image === undefined && flake === undefined && profile === undefined) {
    return devImage ? { kind: 'dev' } : undefined;
  }
  const fail = (problem: string): never => {
    throw new ValidationError(`invalid pool source: ${problem}`, [problem]);
  };
  if (devImage) fail('--dev-image goes back to the dev image: give no other source with it');
  const current = sourceOf(pool);
  const keep = current.kind === 'nix' && image === undefined;
  const { source, problems } = requestedSource({
    image,
    flake: flake ?? (keep ? current.flake : undefined),
    profile: profile ?? (keep ? current.profile : undefined),
  });
  if (!source) return fail(problems.join('; '));
  return source;
}

/** A pool's revisions, builds and rollout go with it (their artifacts stay until collected). */
export async function deletePoolBuilds(repos: Repos, tenantId: string, poolId: string) {
  await repos.rollouts.delete(tenantId, poolId);
  await repos.builds.deleteAll(tenantId, poolId);
  await repos.revisions.deleteAll(tenantId, poolId);
}
