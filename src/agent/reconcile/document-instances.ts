import type { DesiredStatus, Role } from '../../core/model.ts';
import type { DesiredInstance, ObservedInstance } from '../../core/reconcile-plan.ts';
import type { PutInstanceBody } from '../../contract/agent-api.ts';
import type { NodeDesired } from '../../contract/desired.ts';
import type { InstanceRef } from '../runtime/instance-runtime.ts';
import { isLive, specChange } from '../runtime/spec-change.ts';
import type { VmRecord } from '../state/vm-repo.ts';

/** One instance a desired document names: what it should be, and the spec a put records. */
export interface NamedInstance {
  readonly ref: InstanceRef;
  readonly role: Role;
  readonly desired: DesiredStatus;
  readonly body: PutInstanceBody;
  /** A sleep that snapshots even a busy guest. */
  readonly forceSleep: boolean;
  /** A rollout pinned its revision: a live VM of another revision restarts on it. */
  readonly pinned: boolean;
  /** Its pool is not pinned: the coordinator may re-place it when this node is lost. */
  readonly replaceable: boolean;
  /** The id of the last request that changed its entry: its work is logged under it. */
  readonly requestId?: string;
  /** The document's entry it was made from (read-only): what `observe` remembers it by. */
  readonly entry?: object;
}

/** `tenant/pool/instance`: how a pass names instances in plans, logs and its steps. */
export const instanceLabel = (ref: InstanceRef): string =>
  `${ref.tenantId}/${ref.poolId}/${ref.instanceId}`;

export const refOf = (vm: VmRecord): InstanceRef => ({
  tenantId: vm.tenantId,
  poolId: vm.poolId,
  instanceId: vm.instanceId,
});

/** The document's instances by label, in document order. */
export function documentInstances(document: NodeDesired): Map<string, NamedInstance> {
  const named = new Map<string, NamedInstance>();
  for (const tenant of document.tenants) {
    for (const [label, n] of tenantInstances(tenant)) named.set(label, n);
  }
  return named;
}

type Tenant = NodeDesired['tenants'][number];

/**
 * A tenant's instances, made once per tenant object: documents are read-only and an unchanged
 * tenant of the next document is the previous one's object (validated-tenants.ts,
 * verify-manifest.ts), so a toggle's pass builds the changed tenant's entries, not 1,000.
 * The entries are shared between passes: a pass that wants another status copies one.
 */
const madeFor = new WeakMap<Tenant, ReadonlyArray<readonly [string, NamedInstance]>>();

function tenantInstances(tenant: Tenant): ReadonlyArray<readonly [string, NamedInstance]> {
  const known = madeFor.get(tenant);
  if (known) return known;
  const made: Array<readonly [string, NamedInstance]> = [];
  for (const pool of tenant.pools) {
    for (const instance of pool.instances) {
      const ref = { tenantId: tenant.id, poolId: pool.id, instanceId: instance.id };
      const spec = {
        role: pool.role,
        vcpus: pool.vcpus,
        memMib: pool.memMib,
        dataDiskMib: pool.dataDiskMib,
        ip: instance.ip,
        gateway: tenant.gateway,
        mac: instance.mac,
        revision: instance.revision ?? pool.revision ?? 'dev',
        tenant: {
          netId: tenant.netId,
          subnet: tenant.subnet,
          gateway: tenant.gateway,
          egress: tenant.egress,
        },
        ...(pool.secretsDigest !== null ? { secretsDigest: pool.secretsDigest } : {}),
        ...(pool.servicePorts ? { servicePorts: pool.servicePorts } : {}),
        ...(pool.publish ? { publish: pool.publish } : {}),
        ...(pool.hooks ? { hooks: pool.hooks } : {}),
      };
      const config = pool.config
        ? { config: { version: `v${pool.config.version}`, files: pool.config.files } }
        : {};
      made.push([
        instanceLabel(ref),
        {
          ref,
          role: pool.role,
          desired: instance.desiredStatus,
          body: { spec, ...config },
          forceSleep: instance.forceSleep === true,
          pinned: instance.revision !== undefined,
          replaceable: !pool.pinned,
          ...(instance.requestId !== undefined ? { requestId: instance.requestId } : {}),
          entry: instance,
        },
      ]);
    }
  }
  madeFor.set(tenant, made);
  return made;
}

export function desiredOf(named: ReadonlyMap<string, NamedInstance>): DesiredInstance[] {
  return [...named].map(([instance, n]) => ({ instance, role: n.role, status: n.desired }));
}

/** `tenant/pool/instance` of a record, as `instanceLabel` names it. */
export const recordLabel = (vm: VmRecord): string => `${vm.tenantId}/${vm.poolId}/${vm.instanceId}`;

/** The planner's view of the records: a record is current when a put would change nothing. */
export function observe(
  records: readonly VmRecord[],
  named: ReadonlyMap<string, NamedInstance>,
): ObservedInstance[] {
  return records.map((vm) => {
    const instance = recordLabel(vm);
    const n = named.get(instance);
    const restart = n !== undefined && restartOf(vm, n);
    return {
      instance,
      role: vm.spec.role,
      status: vm.status,
      specCurrent: n ? specCurrent(vm, n) : true,
      ...(restart ? { restart } : {}),
    };
  });
}

/**
 * Whether a pass has nothing to do for this instance: its record is at the status the pass
 * wants (`n.desired`) with the document's spec and revision, so the planner would give it no
 * step (core/reconcile-plan.ts: no put, no move, no restart). Checked without allocating: a
 * toggle's pass asks it of every record and plans only the others.
 */
export function isSettled(vm: VmRecord, n: NamedInstance): boolean {
  return vm.status === n.desired && !restartOf(vm, n) && specCurrent(vm, n);
}

/** A rollout pinned the entry's revision and the live VM runs another. */
function restartOf(vm: VmRecord, n: NamedInstance): boolean {
  return n.pinned && isLive(vm) && vm.spec.revision !== n.body.spec.revision;
}

function specCurrent(vm: VmRecord, n: NamedInstance): boolean {
  return n.entry ? currentFor(vm, n.entry, n.body) : isCurrent(vm, n.body);
}

/**
 * Whether a record was current for the document entry it was last compared with, by the
 * record's version. Documents are read-only and an unchanged tenant of a new document is the
 * previous one's object (validated-tenants.ts, verify-manifest.ts), so the same entry means
 * the same body: a pass after a toggle compares the toggled instance's record again, not the
 * other 999 (each comparison parses the spec with zod).
 */
interface Compared {
  key: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  current: boolean;
}

const compared = new WeakMap<object, Compared>();

function currentFor(vm: VmRecord, entry: object, body: PutInstanceBody): boolean {
  const known = compared.get(entry);
  if (
    known?.version === vm.version &&
    known.key === vm.key &&
    known.createdAt === vm.createdAt &&
    known.updatedAt === vm.updatedAt
  ) {
    return known.current;
  }
  const current = isCurrent(vm, body);
  const { key, version, createdAt, updatedAt } = vm;
  compared.set(entry, { key, version, createdAt, updatedAt, current });
  return current;
}

/** A spec the record cannot take is not current: its put step fails and says why. */
function isCurrent(vm: VmRecord, body: PutInstanceBody): boolean {
  try {
    return specChange(vm, body) === undefined;
  } catch {
    return false;
  }
}
