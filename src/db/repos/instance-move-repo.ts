import type { Kysely, Selectable } from 'kysely';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { AlreadyExistsError, ConflictError } from '../../core/errors.ts';
import {
  moveSteps,
  restoreStatuses,
  type BundlePart,
  type InstanceMove,
  type RestoreStatus,
} from '../../core/instance-move.ts';
import type { InstanceMoveRepo } from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import { oneOf } from '../row-values.ts';
import type { Database, InstanceMovesTable } from '../schema.ts';

type MoveRow = Selectable<InstanceMovesTable>;

const FINISHED = ['done', 'failed'];

/** The moves in progress from or to a node (each document computation reads its node's). */
const activeOnStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { nodeId: string }) =>
    db
      .selectFrom('instance_moves')
      .selectAll()
      .where((eb) => eb.or([eb('source_node', '=', p.nodeId), eb('target_node', '=', p.nodeId)]))
      .where('step', 'not in', FINISHED)
      .orderBy('created_at')
      .orderBy('id'),
});

export class KyselyInstanceMoveRepo implements InstanceMoveRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  async insert(move: InstanceMove): Promise<InstanceMove> {
    try {
      await this.db.insertInto('instance_moves').values(toRow(move)).execute();
    } catch (error) {
      const path = `${move.tenantId}/${move.poolId}/${move.instanceId}`;
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'instance_moves_one_active',
            columns: ['tenant_id', 'pool_id', 'instance_id'],
            error: () =>
              new AlreadyExistsError('move of instance', path, 'wait for it to finish or fail'),
          },
          {
            constraint: 'instance_moves_pkey',
            columns: ['id'],
            error: () => new AlreadyExistsError('move', move.id),
          },
        ],
      });
    }
    return move;
  }

  async get(id: string): Promise<InstanceMove | undefined> {
    const row = await this.db
      .selectFrom('instance_moves')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async activeFor(
    tenantId: string,
    poolId: string,
    instanceId: string,
  ): Promise<InstanceMove | undefined> {
    const row = await this.db
      .selectFrom('instance_moves')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .where('instance_id', '=', instanceId)
      .where('step', 'not in', FINISHED)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async activeOn(nodeId: string): Promise<InstanceMove[]> {
    const { rows } = await this.statements.execute(this.db, activeOnStatement, { nodeId });
    return rows.map(fromRow);
  }

  async update(move: InstanceMove, expectedVersion: number): Promise<InstanceMove> {
    const next = { ...move, version: expectedVersion + 1 };
    const result = await this.db
      .updateTable('instance_moves')
      .set(toRow(next))
      .where('id', '=', move.id)
      .where('version', '=', expectedVersion)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) {
      throw new ConflictError(
        `move ${move.id} of ${move.tenantId}/${move.poolId}/${move.instanceId} changed meanwhile (or is gone); read it again`,
        { expectedVersion },
      );
    }
    return next;
  }
}

function toRow(m: InstanceMove): MoveRow {
  return {
    id: m.id,
    tenant_id: m.tenantId,
    pool_id: m.poolId,
    instance_id: m.instanceId,
    source_node: m.sourceNode,
    target_node: m.targetNode,
    step: m.step,
    parts: m.parts === null ? null : JSON.stringify(m.parts),
    received: JSON.stringify(m.received),
    attempts: m.attempts,
    reason: m.reason,
    wake: m.wake ? 1 : 0,
    restore: m.restore,
    drain_of: m.drainOf,
    requested_by: m.requestedBy,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
    version: m.version,
  };
}

function fromRow(r: MoveRow): InstanceMove {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    instanceId: r.instance_id,
    sourceNode: r.source_node,
    targetNode: r.target_node,
    step: oneOf(moveSteps, r.step, 'instance_moves.step'),
    parts: r.parts === null ? null : (JSON.parse(r.parts) as BundlePart[]),
    received: JSON.parse(r.received) as Record<string, number>,
    attempts: Number(r.attempts),
    reason: r.reason,
    wake: Number(r.wake) === 1,
    restore: restoreOf(Number(r.wake) === 1, r.restore),
    drainOf: r.drain_of,
    requestedBy: r.requested_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: Number(r.version),
  };
}

/** Rows from before migration 0026 carry no restore status: a woken move then meant running. */
function restoreOf(wake: boolean, stored: string | null): RestoreStatus | null {
  if (!wake) return null;
  return stored === null ? 'running' : oneOf(restoreStatuses, stored, 'instance_moves.restore');
}
