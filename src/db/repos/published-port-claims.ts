import type { Kysely } from 'kysely';
import { ConflictError, InternalError } from '../../core/errors.ts';
import { hookNames, type PoolHooks } from '../../core/pool-hooks.ts';
import type { PublishedPort } from '../../core/published-ports.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { Database } from '../schema.ts';

/**
 * The host ports pools publish, one row per port (migration 0022): its primary key is what
 * keeps two pools from one host port, on both dialects, whatever the writers' interleaving.
 * Used by the pool repository inside the pool's own write (same transaction).
 */
export class PublishedPortClaims {
  constructor(private readonly db: Kysely<Database>) {}

  /** Makes the pool hold exactly `ports`; a port another pool holds is a ConflictError (409). */
  async claim(tenantId: string, poolId: string, ports: readonly PublishedPort[]): Promise<void> {
    await this.db
      .deleteFrom('published_ports')
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .execute();
    if (ports.length === 0) return;
    await this.refuseTaken(tenantId, poolId, ports);
    try {
      await this.db
        .insertInto('published_ports')
        .values(
          ports.map((p) => ({
            host_port: p.hostPort,
            tenant_id: tenantId,
            pool_id: poolId,
            guest_port: p.guestPort,
          })),
        )
        .execute();
    } catch (error) {
      // A concurrent writer claimed one between the check and the insert.
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'published_ports_pkey',
            columns: ['host_port'],
            error: () =>
              taken(
                ports.map((p) => p.hostPort),
                undefined,
              ),
          },
        ],
      });
    }
  }

  /** The friendly refusal: which pool holds the port (the primary key still decides a race). */
  private async refuseTaken(
    tenantId: string,
    poolId: string,
    ports: readonly PublishedPort[],
  ): Promise<void> {
    const held = await this.db
      .selectFrom('published_ports')
      .select(['host_port', 'tenant_id', 'pool_id'])
      .where(
        'host_port',
        'in',
        ports.map((p) => p.hostPort),
      )
      .execute();
    const other = held.find((r) => r.tenant_id !== tenantId || r.pool_id !== poolId);
    if (other) throw taken([other.host_port], `${other.tenant_id}/${other.pool_id}`);
  }
}

function taken(ports: readonly number[], owner: string | undefined): ConflictError {
  const which =
    ports.length === 1 ? `host port ${ports[0]}` : `one of host ports ${ports.join(', ')}`;
  const by = owner ? `pool '${owner}'` : 'another pool';
  return new ConflictError(
    `${which} is already published by ${by}; a host port is published by one pool in the fleet: pick another port or unpublish it there first`,
    { hostPorts: [...ports] },
  );
}

/** The stored list, or a corrupt row named. */
export function publishedOf(text: string): PublishedPort[] {
  const value: unknown = JSON.parse(text);
  if (
    Array.isArray(value) &&
    value.every(
      (p: unknown) =>
        typeof p === 'object' &&
        p !== null &&
        Number.isInteger((p as PublishedPort).hostPort) &&
        Number.isInteger((p as PublishedPort).guestPort),
    )
  ) {
    return (value as PublishedPort[]).map((p) => ({
      hostPort: p.hostPort,
      guestPort: p.guestPort,
    }));
  }
  throw new InternalError(`pools.published_ports holds ${text}, not a list of port pairs`);
}

export function hooksOf(text: string): PoolHooks {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InternalError(`pools.hooks holds ${text}, not an object`);
  }
  const hooks: PoolHooks = {};
  for (const name of hookNames) {
    const argv = (value as Record<string, unknown>)[name];
    if (argv === undefined) continue;
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
      throw new InternalError(`pools.hooks.${name} holds ${JSON.stringify(argv)}, not an argv`);
    }
    hooks[name] = argv as string[];
  }
  return hooks;
}
