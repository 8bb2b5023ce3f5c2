import type { DesiredTenant, NodeDesired } from '../../contract/desired.ts';
import {
  NODE_DOCUMENT_SCHEMA,
  tenantEntry,
  type DocumentInstance,
} from '../../core/desired-doc.ts';
import type { InstanceMove } from '../../core/instance-move.ts';
import { holdMoving } from '../../core/move-hold.ts';
import type { NodeRows, TenantRows } from './node-rows.ts';
import type { TenantEntryMemo } from './tenant-entries.ts';
import type { DocumentInputs } from './tenant-inputs.ts';

type Move = Pick<InstanceMove, 'tenantId' | 'poolId' | 'instanceId' | 'sourceNode' | 'step'>;

/**
 * A node's document (unstamped) from its rows by tenant (desired/node-rows.ts), its tenants'
 * inputs (desired/tenant-inputs.ts) and its moves under way, built tenant by tenant with
 * core/desired-doc.ts's `tenantEntry`, so it is `buildNodeDocument`'s document byte for byte.
 *
 * With `memo` (desired/tenant-entries.ts), a tenant's entry is built again only when one of
 * what it is made of differs from the previous computation's: its rows (one object per tenant,
 * replaced when one of its rows or request ids changes), its inputs (record, pools, workloads:
 * one object, replaced when its mark moves), its VXLAN peers (as text) and the instances it is
 * the source of a move of (as text: a move's start or end holds an instance asleep or lets it
 * go without changing its row). A toggle compares four items for each of 500 tenants and
 * builds one entry; no row of the other tenants is read.
 */
export function nodeDocument(
  nodeId: string,
  rows: NodeRows,
  inputs: Pick<DocumentInputs, 'byTenant' | 'peers'>,
  moves: readonly Move[],
  memo?: TenantEntryMemo,
): NodeDesired {
  const leaving = leavingByTenant(nodeId, moves);
  // One function for every tenant (a closure per tenant cost more than the comparisons).
  const build = (id: string) => {
    const tenantInputs = inputs.byTenant.get(id);
    const tenantRows = rows.tenants.get(id);
    if (!tenantInputs || !tenantRows) return undefined;
    return tenantEntry(nodeId, {
      tenant: tenantInputs.tenant,
      pools: tenantInputs.pools,
      workloads: tenantInputs.workloads,
      instances: heldRows(tenantRows, leaving.get(id) ?? []),
      requestIds: tenantRows.requestIds,
      peers: inputs.peers.get(id) ?? [],
    });
  };
  const out: DesiredTenant[] = [];
  for (const id of rows.order) {
    const tenantInputs = inputs.byTenant.get(id);
    const tenantRows = rows.tenants.get(id);
    // A tenant whose record is gone (destroyed since its rows were read) is not listed.
    if (!tenantInputs || !tenantRows) continue;
    const peers = inputs.peers.get(id);
    const held = leaving.get(id);
    const entry = memo
      ? memo(id, [tenantInputs, tenantRows, peersText(peers), movesText(held)], build)
      : build(id);
    if (entry) out.push(entry);
  }
  return { schema: NODE_DOCUMENT_SCHEMA, nodeId, generation: 0, issuedAt: '', tenants: out };
}

/** The moves under way out of this node, by tenant (only those hold an instance here). */
function leavingByTenant(nodeId: string, moves: readonly Move[]): Map<string, Move[]> {
  const out = new Map<string, Move[]>();
  for (const m of moves) {
    if (m.sourceNode !== nodeId || m.step === 'done' || m.step === 'failed') continue;
    const group = out.get(m.tenantId);
    if (group) group.push(m);
    else out.set(m.tenantId, [m]);
  }
  return out;
}

/** The moves' instances as text, in one order whatever order the store lists them in. */
function movesText(moves: readonly Move[] | undefined): string {
  if (moves === undefined) return '';
  return moves
    .map((m) => `${m.poolId}/${m.instanceId}`)
    .sort()
    .join(' ');
}

/** A tenant's peers as text: equal text, equal list. */
function peersText(peers: readonly string[] | undefined): string {
  return peers === undefined || peers.length === 0 ? '' : peers.join(' ');
}

/** A tenant's rows as its entry states them (core/move-hold.ts). */
function heldRows(rows: TenantRows, moves: readonly Move[]): Iterable<DocumentInstance> {
  return moves.length === 0
    ? rows.instances.values()
    : holdMoving([...rows.instances.values()], moves);
}
