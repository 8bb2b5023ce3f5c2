import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import { NotFoundError } from '../../core/errors.ts';
import type { FleetNode, NodeUsage } from '../../core/model.ts';
import type {
  NodeAllocation,
  NodeLoad,
  NodeBeat,
  NodePatch,
  NodeRepo,
  NodeWithLoad,
  TenantNodes,
} from '../../ports/store.ts';
import { versionConflict } from '../cas-errors.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { oneOf, stringMap } from '../row-values.ts';
import type { Database, NodesTable } from '../schema.ts';
import { beatParams, beatStatement } from './heartbeat-statements.ts';
import { idsParam, isOneOf, type IdsParam } from './id-list.ts';
import { tenantNodes } from './tenant-nodes.ts';

type NodeRow = Selectable<NodesTable>;

const nodeStatuses = ['ready', 'lost', 'cordoned'] as const;
const lostFrom = ['ready', 'cordoned'] as const;

/** A node's row (each document computation reads its node's): compiled once. */
const nodeStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { id: string }) =>
    db.selectFrom('nodes').selectAll().where('id', '=', p.id),
});

/** These nodes' rows (a document's peers): one statement whatever their number. */
const nodesOfStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { ids: IdsParam }) =>
    db
      .selectFrom('nodes')
      .selectAll()
      .where(isOneOf(db, 'id', p.ids))
      .orderBy('id'),
});

/**
 * These nodes' rows with what each holds, summed from its stripes of `node_loads` (a raise's
 * room check): one statement whatever their number.
 */
const withLoadsStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { ids: IdsParam }) =>
    db
      .selectFrom('nodes')
      .selectAll('nodes')
      .select((eb) => [
        eb
          .selectFrom('node_loads')
          .select(sql<number | string>`coalesce(sum(node_loads.vcpus), 0)`.as('v'))
          .whereRef('node_loads.node_id', '=', 'nodes.id')
          .as('held_vcpus'),
        eb
          .selectFrom('node_loads')
          .select(sql<number | string>`coalesce(sum(node_loads.mem_mib), 0)`.as('m'))
          .whereRef('node_loads.node_id', '=', 'nodes.id')
          .as('held_mem_mib'),
      ])
      .where(isOneOf(db, 'nodes.id', p.ids))
      .orderBy('nodes.id'),
});

export class KyselyNodeRepo implements NodeRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  /**
   * Registers a node or refreshes everything about it but its creation time; a refresh bumps
   * the stored version by one (the version passed in is used only for a new node).
   */
  async upsert(node: FleetNode): Promise<FleetNode> {
    const row = await this.db
      .insertInto('nodes')
      .values(toRow(node))
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          hostname: eb.ref('excluded.hostname'),
          arch: eb.ref('excluded.arch'),
          vcpus: eb.ref('excluded.vcpus'),
          mem_mib: eb.ref('excluded.mem_mib'),
          disk_gib: eb.ref('excluded.disk_gib'),
          labels: eb.ref('excluded.labels'),
          status: eb.ref('excluded.status'),
          last_heartbeat: eb.ref('excluded.last_heartbeat'),
          underlay_ip: eb.ref('excluded.underlay_ip'),
          usage: eb.ref('excluded.usage'),
          lost_from: eb.ref('excluded.lost_from'),
          version: eb('nodes.version', '+', 1),
        })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    return nodeFromRow(row);
  }

  async get(id: string): Promise<FleetNode | undefined> {
    const [row] = (await this.statements.execute(this.db, nodeStatement, { id })).rows;
    return row && nodeFromRow(row);
  }

  async list(filter: { ids?: readonly string[] } = {}): Promise<FleetNode[]> {
    const { ids } = filter;
    if (ids === undefined) {
      return (await this.db.selectFrom('nodes').selectAll().orderBy('id').execute()).map(
        nodeFromRow,
      );
    }
    if (ids.length === 0) return [];
    const params = { ids: idsParam(this.db, ids) };
    return (await this.statements.execute(this.db, nodesOfStatement, params)).rows.map(nodeFromRow);
  }

  async update(id: string, patch: NodePatch, expectedVersion: number): Promise<FleetNode> {
    const row = await this.db
      .updateTable('nodes')
      .set((eb) => ({ ...patchColumns(patch), version: eb('version', '+', 1) }))
      .where('id', '=', id)
      .where('version', '=', expectedVersion)
      .returningAll()
      .executeTakeFirst();
    if (row) return nodeFromRow(row);
    const stored = await this.get(id);
    if (!stored) throw new NotFoundError('node', id, "see 'mvm node list'");
    throw versionConflict(`node ${id}`, expectedVersion, stored.version);
  }

  async beat(id: string, fields: NodeBeat): Promise<FleetNode | undefined> {
    const { rows } = await this.statements.execute(this.db, beatStatement, beatParams(id, fields));
    return rows[0] && nodeFromRow(rows[0]);
  }

  async allocations(filter: { tenantIds?: readonly string[] } = {}): Promise<NodeAllocation[]> {
    const { tenantIds } = filter;
    if (tenantIds !== undefined && tenantIds.length === 0) return [];
    let query = this.db.selectFrom('node_allocations').selectAll().where('instances', '>', 0);
    if (tenantIds !== undefined) query = query.where('tenant_id', 'in', [...tenantIds]);
    const rows = await query.orderBy('node_id').orderBy('tenant_id').orderBy('pool_id').execute();
    return rows.map((r) => ({
      nodeId: r.node_id,
      tenantId: r.tenant_id,
      poolId: r.pool_id,
      instances: r.instances,
      holding: r.holding,
    }));
  }

  async loads(filter: { nodeIds?: readonly string[] } = {}): Promise<NodeLoad[]> {
    const { nodeIds } = filter;
    if (nodeIds !== undefined && nodeIds.length === 0) return [];
    // Kept per node and stripe by triggers (migration 0037): O(nodes) rows, not one per
    // node, tenant and pool.
    let query = this.db
      .selectFrom('node_loads')
      .select([
        'node_id',
        sql<number | string>`sum(vcpus)`.as('vcpus'),
        sql<number | string>`sum(mem_mib)`.as('mem_mib'),
      ]);
    if (nodeIds !== undefined) query = query.where('node_id', 'in', [...nodeIds]);
    const rows = await query
      .groupBy('node_id')
      .having((eb) => eb.or([eb(sql`sum(vcpus)`, '>', 0), eb(sql`sum(mem_mib)`, '>', 0)]))
      .orderBy('node_id')
      .execute();
    // Postgres sums integers as bigint, which its driver hands over as text.
    return rows.map((r) => ({
      nodeId: r.node_id,
      vcpus: Number(r.vcpus),
      memMib: Number(r.mem_mib),
    }));
  }

  async withLoads(ids: readonly string[]): Promise<NodeWithLoad[]> {
    if (ids.length === 0) return [];
    const params = { ids: idsParam(this.db, ids) };
    const { rows } = await this.statements.execute(this.db, withLoadsStatement, params);
    // Postgres sums integers as bigint, which its driver hands over as text.
    return rows.map(({ held_vcpus, held_mem_mib, ...row }) => ({
      node: nodeFromRow(row),
      held: { vcpus: Number(held_vcpus ?? 0), memMib: Number(held_mem_mib ?? 0) },
    }));
  }

  tenantNodes(tenantIds: readonly string[]): Promise<TenantNodes[]> {
    return tenantNodes(this.db, this.statements, tenantIds);
  }
}

function patchColumns(patch: NodePatch): Updateable<NodesTable> {
  const columns: Updateable<NodesTable> = {};
  if (patch.status !== undefined) columns.status = patch.status;
  if (patch.lastHeartbeat !== undefined) columns.last_heartbeat = patch.lastHeartbeat;
  if (patch.underlayIp !== undefined) columns.underlay_ip = patch.underlayIp;
  if (patch.lostFrom !== undefined) columns.lost_from = patch.lostFrom;
  if (patch.capacity !== undefined) {
    columns.vcpus = patch.capacity.vcpus;
    columns.mem_mib = patch.capacity.memMib;
    columns.disk_gib = patch.capacity.diskGib;
  }
  if (patch.usage !== undefined) {
    columns.usage = patch.usage === null ? null : JSON.stringify(patch.usage);
  }
  return columns;
}

function toRow(n: FleetNode): NodeRow {
  return {
    id: n.id,
    hostname: n.hostname,
    arch: n.arch,
    vcpus: n.capacity.vcpus,
    mem_mib: n.capacity.memMib,
    disk_gib: n.capacity.diskGib,
    labels: JSON.stringify(n.labels),
    status: n.status,
    last_heartbeat: n.lastHeartbeat,
    underlay_ip: n.underlayIp,
    usage: n.usage === null ? null : JSON.stringify(n.usage),
    lost_from: n.lostFrom ?? null,
    created_at: n.createdAt,
    version: n.version,
  };
}

export function nodeFromRow(r: NodeRow): FleetNode {
  return {
    id: r.id,
    hostname: r.hostname,
    arch: r.arch,
    capacity: { vcpus: r.vcpus, memMib: r.mem_mib, diskGib: r.disk_gib },
    labels: stringMap(r.labels, 'nodes.labels'),
    status: oneOf(nodeStatuses, r.status, 'nodes.status'),
    lastHeartbeat: r.last_heartbeat,
    underlayIp: r.underlay_ip,
    usage: r.usage === null ? null : (JSON.parse(r.usage) as NodeUsage),
    ...(r.lost_from === null ? {} : { lostFrom: oneOf(lostFrom, r.lost_from, 'nodes.lost_from') }),
    createdAt: r.created_at,
    version: r.version,
  };
}

/**
 * Postgres answers json (parsed by pg: far cheaper than its text[] parser, which was 15% of a
 * loaded coordinator's time), SQLite JSON text; both sorted here.
 */
