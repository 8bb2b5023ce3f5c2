import { sql, type Kysely, type Selectable } from 'kysely';
import { InternalError } from '../../core/errors.ts';
import { idleSlots } from '../../core/idle-policy.ts';
import { desiredStatuses, instanceStatuses } from '../../core/model.ts';
import type { PoolMember } from '../../ports/store.ts';
import { oneOf } from '../row-values.ts';
import type { Database, InstancesTable } from '../schema.ts';

/**
 * A pool's instances as a change of its intent weighs them (the materializer, the quota
 * check, the compare-and-set writes, the raises' room): only those columns, by the primary
 * key's range, in id order. A scale reads its pool's rows on every call; the full rows
 * (addresses, revisions, request ids, times of creation) were most of what it parsed.
 */
export async function poolMembers(
  db: Kysely<Database>,
  tenantId: string,
  poolId: string,
): Promise<PoolMember[]> {
  const rows = await db
    .selectFrom('instances')
    .select(MEMBER_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('pool_id', '=', poolId)
    .orderBy('tenant_id')
    .orderBy('pool_id')
    .orderBy('id')
    .execute();
  return rows.map((r) => poolMember(tenantId, poolId, r));
}

/** The columns of a pool member, as `poolMembers` selects them. */
export const MEMBER_COLUMNS = [
  'id',
  'status',
  'desired_status',
  'node_id',
  'status_since',
  'last_active_at',
  'pressure_slept_at',
  'idle_slot',
  'version',
] as const;

export type MemberRow = Pick<Selectable<InstancesTable>, (typeof MEMBER_COLUMNS)[number]>;

/** A member of `tenantId`'s pool `poolId` from its columns (values checked as a row's are). */
export function poolMember(tenantId: string, poolId: string, r: MemberRow): PoolMember {
  return {
    tenantId,
    poolId,
    id: r.id,
    status: oneOf(instanceStatuses, r.status, 'instances.status'),
    desiredStatus: oneOf(desiredStatuses, r.desired_status, 'instances.desired_status'),
    nodeId: r.node_id,
    statusSince: r.status_since,
    lastActiveAt: r.last_active_at,
    pressureSleptAt: r.pressure_slept_at,
    idleSlot: r.idle_slot === null ? null : oneOf(idleSlots, r.idle_slot, 'instances.idle_slot'),
    version: r.version,
  };
}

/** After each field of `membersText` but the last: no value holds it. */
const SEPARATOR = '\x1f';

/** The columns that may be null: an empty field in `membersText` (none is stored empty). */
const NULLABLE: ReadonlySet<string> = new Set<(typeof MEMBER_COLUMNS)[number]>([
  'node_id',
  'status_since',
  'last_active_at',
  'pressure_slept_at',
  'idle_slot',
]);

/**
 * Postgres: a pool's members (`MEMBER_COLUMNS`, in that order) aggregated into one text in id
 * order, a unit separator (U+001F) between any two fields, null an empty field; null for no
 * member. One value where there were 200 rows: pg spent ~4 µs of the coordinator's CPU on each
 * row (a message, an event, an object), and Postgres about the same on either. Every value is
 * an id, a status or slot word, ISO text or an integer: none holds the separator or is stored
 * empty. One separator, so the coordinator splits the text once (a split per member cost more
 * than the rows' objects); `membersOfText` checks each member's fields.
 */
export function membersText() {
  const fields = MEMBER_COLUMNS.map((column) =>
    NULLABLE.has(column) ? sql`COALESCE(${sql.ref(column)}, '')` : sql`${sql.ref(column)}::text`,
  );
  const separated = sql.join(fields, sql`, `);
  return sql<
    string | null
  >`string_agg(concat_ws(${sql.lit(SEPARATOR)}, ${separated}), ${sql.lit(SEPARATOR)} ORDER BY ${sql.ref('id')})`.as(
    'members',
  );
}

/** The members `membersText` aggregated, as `poolMembers` answers them. */
export function membersOfText(tenantId: string, poolId: string, text: string | null): PoolMember[] {
  if (text === null) return [];
  const f = text.split(SEPARATOR);
  const width = MEMBER_COLUMNS.length;
  if (f.length % width !== 0) {
    throw new InternalError(`a pool's members came back as ${f.length} fields`, { text });
  }
  const members: PoolMember[] = [];
  for (let i = 0; i < f.length; i += width) {
    const id = f[i] as string;
    const version = Number(f[i + 8]);
    if (id === '' || !Number.isSafeInteger(version)) {
      throw new InternalError(`a pool member came back without its id or version`, { text });
    }
    members.push(
      poolMember(tenantId, poolId, {
        id,
        status: f[i + 1] as string,
        desired_status: f[i + 2] as string,
        node_id: f[i + 3] || null,
        status_since: f[i + 4] || null,
        last_active_at: f[i + 5] || null,
        pressure_slept_at: f[i + 6] || null,
        idle_slot: f[i + 7] || null,
        version,
      }),
    );
  }
  return members;
}
