import { sql, type Kysely, type Selectable, type UpdateObject, type Updateable } from 'kysely';
import { InternalError, NotFoundError } from '../../core/errors.ts';
import type { Instance, Pool } from '../../core/model.ts';
import type { MemberWrite, PoolPatch } from '../../ports/store.ts';
import { currentRequestId } from '../../drivers/request-context.ts';
import { versionConflict } from '../cas-errors.ts';
import { compiledStatement, setValues, type CompiledStatements } from '../compiled-statement.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database, InstancesTable, PoolsTable } from '../schema.ts';
import { changeStamp } from './instance-changes.ts';
import {
  desiredPatch,
  fromRow as instanceFromRow,
  instanceConflict,
  updateInstance,
} from './instance-repo.ts';

/** The scaled pool's key, patch and expected version. */
export interface ScaledPool {
  tenantId: string;
  id: string;
  patch: PoolPatch;
  expectedVersion: number;
  /** A lock tried in the same statement (`LockRepo.tryAcquire`'s), answered as `locked`. */
  tryLock?: string;
}

/** How the pool repo writes and reads the pool's own row. */
export interface PoolRows {
  /** The patch's columns, as `pools.update` sets them. */
  columns(patch: PoolPatch): Updateable<PoolsTable>;
  fromRow(row: Selectable<PoolsTable>): Pool;
  /** `pools.update` (SQLite's path). */
  update(pool: ScaledPool, at: string): Promise<Pool>;
  get(tenantId: string, id: string): Promise<Pool | undefined>;
}

/**
 * A scale's writes (PoolRepo.updateWithMembers). On Postgres one statement: the pool's
 * compare-and-set update and the members' as data-modifying WITHs, the members' joined to
 * their ids and versions read (arrays unnested: one compiled statement whatever the number of
 * members) and gated on the pool's having matched, so a pool that moved writes no member.
 * Which compare-and-set missed is told afterwards, as the statements one by one told it: the
 * pool's first, then the first member in order. SQLite (in process, no round trip) runs the
 * pool's update and then each member's. A lock to try (`tryLock`) is tried in the statement's
 * answer, after its writes as a `locks.tryAcquire` after them would be; on SQLite the
 * transaction already excludes others (lock-repo.ts), so it is held.
 */
export async function updateWithMembers(
  db: Kysely<Database>,
  statements: CompiledStatements,
  rows: PoolRows,
  pool: ScaledPool,
  members: readonly MemberWrite[],
  at: string,
): Promise<{ pool: Pool; members: Instance[]; locked?: boolean }> {
  const locked = (held: boolean) => (pool.tryLock === undefined ? {} : { locked: held });
  if (dialectOf(db) !== 'postgres') {
    const written = await rows.update(pool, at);
    const changed: Instance[] = [];
    for (const m of members) {
      const key = { tenantId: pool.tenantId, poolId: pool.id, instanceId: m.id };
      const patch =
        m.idleSlot !== undefined
          ? { idleSlot: m.idleSlot }
          : { ...desiredPatch(m.desiredStatus, false), ...(m.lowering ? { loweredAt: at } : {}) };
      changed.push(await updateInstance(db, statements, key, patch, m.version, at));
    }
    return { pool: written, members: changed, ...locked(true) };
  }
  const params = scaleWriteParams(pool, rows.columns(pool.patch), members, at);
  const [row] = (await statements.execute(db, scaleWriteStatement, params)).rows;
  if (!row?.pool) throw await poolConflict(rows, pool);
  const byId = new Map<string, Instance>();
  for (const r of row.members ?? []) byId.set(r.id, instanceFromRow(r));
  const changed: Instance[] = [];
  for (const m of members) {
    const written = byId.get(m.id);
    if (!written) {
      const key = { tenantId: pool.tenantId, poolId: pool.id, instanceId: m.id };
      throw await instanceConflict(db, statements, key, m.version);
    }
    changed.push(written);
  }
  return { pool: rows.fromRow(row.pool), members: changed, ...locked(row.locked === true) };
}

async function poolConflict(rows: PoolRows, pool: ScaledPool): Promise<Error> {
  const stored = await rows.get(pool.tenantId, pool.id);
  const path = `${pool.tenantId}/${pool.id}`;
  if (!stored) return new NotFoundError('pool', path);
  return versionConflict(`pool ${path}`, pool.expectedVersion, stored.version);
}

type ScaleWriteParams = Record<string, unknown>;

/**
 * `scaleWriteStatement`'s parameters: the pool's columns as `poolUpdateParams` names them, the
 * members by kind (a desired status, or only an idle slot) as parallel arrays, and the request
 * id a desired status is stamped with (its presence is part of the shape, as in
 * `instances.update`).
 */
export function scaleWriteParams(
  pool: ScaledPool,
  columns: Updateable<PoolsTable>,
  members: readonly MemberWrite[],
  at: string,
): ScaleWriteParams {
  const set = Object.keys(columns).sort();
  const params: ScaleWriteParams = {
    tenantId: pool.tenantId,
    poolId: pool.id,
    expectedVersion: pool.expectedVersion,
    at,
    columns: set,
    requestId: currentRequestId() ?? null,
    tryLock: pool.tryLock ?? null,
  };
  for (const c of set) params[`set:${c}`] = (columns as Record<string, unknown>)[c];
  const desired = members.filter((m) => m.idleSlot === undefined);
  const slotted = members.filter((m) => m.idleSlot !== undefined);
  if (new Set(members.map((m) => m.id)).size !== members.length) {
    throw new InternalError('a scale writes each of its members once', { pool: pool.id });
  }
  params['desiredIds'] = desired.map((m) => m.id);
  params['desiredVersions'] = desired.map((m) => m.version);
  params['desiredStatuses'] = desired.map((m) => m.desiredStatus);
  params['desiredLowering'] = desired.map((m) => m.lowering === true);
  params['slotIds'] = slotted.map((m) => m.id);
  params['slotVersions'] = slotted.map((m) => m.version);
  params['slots'] = slotted.map((m) => m.idleSlot);
  return params;
}

interface ScaleWriteShape {
  columns: readonly string[];
  requestId: boolean;
  tryLock: boolean;
}

/**
 * The members' updates join these, each a member's id and version read and what it gets (and
 * whether that lowers it). Migration 0050's function, not `unnest` itself: it says it answers
 * one row whatever the arrays, so the statement's generic plan costs what its custom plans do
 * and Postgres keeps it, not planning each call anew (docs/scale.md, "Postgres' plans of a
 * toggle"). Its arrays are unnested together, as `unnest` of several arrays does.
 */
const members = (ids: unknown, versions: unknown, values: unknown, lowering?: unknown) =>
  sql<{
    member_id: string;
    member_version: number;
    member_value: string;
    member_lowering: boolean | null;
  }>`mvm_scale_members(${ids}::text[], ${versions}::int[], ${values}::text[], ${
    lowering === undefined ? sql`'{}'` : lowering
  }::boolean[])`.as<'m'>(sql`m`);

/** A member is the scaled pool's, read at that version, and written only if the pool was. */
const matched = sql<boolean>`instances.id = m.member_id AND instances.version = m.member_version
  AND EXISTS (SELECT 1 FROM pool)`;

/**
 * One kind of member's update: the scaled pool's instances joined to `from` (their ids and
 * versions read, `matched`), set to `values` then stamped (time, version, change) as every
 * instance write is, answering the rows written.
 */
const memberUpdate = (
  db: Kysely<Database>,
  p: ScaleWriteParams,
  from: ReturnType<typeof members>,
  values: UpdateObject<Database, 'instances'>,
) =>
  db
    .updateTable('instances')
    .from(from)
    .set((eb) => ({
      ...values,
      updated_at: p['at'] as string,
      version: eb('instances.version', '+', 1),
      change_seq: changeStamp(db),
    }))
    .where('instances.tenant_id', '=', p['tenantId'] as string)
    .where('instances.pool_id', '=', p['poolId'] as string)
    .where(matched)
    .returningAll('instances');

/** Postgres: the pool's compare-and-set and its members' in one statement (see above). */
export const scaleWriteStatement = compiledStatement({
  shape: (p: ScaleWriteParams): ScaleWriteShape => ({
    columns: p['columns'] as readonly string[],
    requestId: p['requestId'] !== null,
    tryLock: p['tryLock'] !== null && p['tryLock'] !== undefined,
  }),
  build: (db: Kysely<Database>, shape: ScaleWriteShape, p: ScaleWriteParams) =>
    db
      .with('pool', (qc) =>
        qc
          .updateTable('pools')
          .set((eb) => ({
            ...(setValues(shape.columns, p) as Updateable<PoolsTable>),
            updated_at: p['at'] as string,
            version: eb('version', '+', 1),
          }))
          .where('tenant_id', '=', p['tenantId'] as string)
          .where('id', '=', p['poolId'] as string)
          .where('version', '=', p['expectedVersion'] as number)
          .returningAll(),
      )
      .with('desired', () =>
        memberUpdate(
          db,
          p,
          members(
            p['desiredIds'],
            p['desiredVersions'],
            p['desiredStatuses'],
            p['desiredLowering'],
          ),
          {
            // As `setDesired`: a new desired status ends a pressure hold, an idle slot and a
            // forced sleep, and is stamped with the request that set it.
            desired_status: sql<string>`m.member_value`,
            idle_slot: null,
            pressure_slept_at: null,
            sleep_forced: 0,
            // A lowering is stamped (wake-report.ts: a wake admitted before it does not undo it).
            lowered_at: sql<
              string | null
            >`CASE WHEN m.member_lowering THEN ${p['at'] as string} ELSE instances.lowered_at END`,
            ...(shape.requestId ? { last_request_id: p['requestId'] as string } : {}),
          },
        ),
      )
      .with('slotted', () =>
        memberUpdate(db, p, members(p['slotIds'], p['slotVersions'], p['slots']), {
          idle_slot: sql<string>`m.member_value`,
        }),
      )
      .selectNoFrom(() => [
        sql<Selectable<PoolsTable> | null>`(SELECT row_to_json(pool) FROM pool)`.as('pool'),
        sql<Selectable<InstancesTable>[] | null>`(SELECT json_agg(w) FROM (
          SELECT * FROM desired UNION ALL SELECT * FROM slotted) w)`.as('members'),
        // Evaluated with the answer's row, so always tried (an unreferenced WITH may not be).
        ...(shape.tryLock
          ? [
              sql<boolean>`pg_try_advisory_xact_lock(hashtext(${p['tryLock'] as string}))`.as(
                'locked',
              ),
            ]
          : []),
      ]),
});
