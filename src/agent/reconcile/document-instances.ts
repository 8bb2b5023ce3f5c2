import type { DesiredStatus, Role } from '../../core/model.ts';
import type { DesiredInstance, ObservedInstance } from '../../core/reconcile-plan.ts';
import type { PutInstanceBody } from '../../contract/agent-api.ts';
import type { NodeDesired } from '../../contract/desired.ts';
import type { InstanceRef } from '../runtime/instance-runtime.ts';
import { isLive, specChange } from '../runtime/spec-change.ts';
import type { VmRecord } from '../state/vm-repo.ts';

/** One instance a desired document names: what it should be, and the spec a put records. */
export interface NamedInstance {
  ref: InstanceRef;
  role: Role;
  desired: DesiredStatus;
  body: PutInstanceBody;
  /** A sleep that snapshots even a busy guest. */
  forceSleep: boolean;
  /** A rollout pinned its revision: a live VM of another revision restarts on it. */
  pinned: boolean;
  /** Its pool is not pinned: the coordinator may re-place it when this node is lost. */
  replaceable: boolean;
  /** The id of the last request that changed its entry: its work is logged under it. */
  requestId?: string;
  /** The document's entry it was made from (read-only): what `observe` remembers it by. */
  entry?: object;
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
        named.set(instanceLabel(ref), {
          ref,
          role: pool.role,
          desired: instance.desiredStatus,
          body: { spec, ...config },
          forceSleep: instance.forceSleep === true,
          pinned: instance.revision !== undefined,
          replaceable: !pool.pinned,
          ...(instance.requestId !== undefined ? { requestId: instance.requestId } : {}),
          entry: instance,
        });
      }
    }
  }
  return named;
}

export function desiredOf(named: ReadonlyMap<string, NamedInstance>): DesiredInstance[] {
  return [...named].map(([instance, n]) => ({ instance, role: n.role, status: n.desired }));
}

/** The planner's view of the records: a record is current when a put would change nothing. */
export function observe(
  records: readonly VmRecord[],
  named: ReadonlyMap<string, NamedInstance>,
): ObservedInstance[] {
  return records.map((vm) => {
    const instance = instanceLabel(refOf(vm));
    const n = named.get(instance);
    const body = n?.body;
    const restart = n?.pinned === true && isLive(vm) && vm.spec.revision !== n.body.spec.revision;
    return {
      instance,
      role: vm.spec.role,
      status: vm.status,
      specCurrent: n?.entry ? currentFor(vm, n.entry, n.body) : isCurrent(vm, body),
      ...(restart ? { restart } : {}),
    };
  });
}

/**
 * Whether a record was current for the document entry it was last compared with, by the
 * record's version. Documents are read-only and an unchanged tenant of a new document is the
 * previous one's object (validated-tenants.ts, verify-manifest.ts), so the same entry means
 * the same body: a pass after a toggle compares the toggled instance's record again, not the
 * other 999 (each comparison parses the spec with zod).
 */
const compared = new WeakMap<object, { record: string; current: boolean }>();

function currentFor(vm: VmRecord, entry: object, body: PutInstanceBody): boolean {
  const record = `${vm.key}\n${vm.version}\n${vm.createdAt}\n${vm.updatedAt}`;
  const known = compared.get(entry);
  if (known?.record === record) return known.current;
  const current = isCurrent(vm, body);
  compared.set(entry, { record, current });
  return current;
}

/** A spec the record cannot take is not current: its put step fails and says why. */
function isCurrent(vm: VmRecord, body: PutInstanceBody | undefined): boolean {
  if (!body) return true;
  try {
    return specChange(vm, body) === undefined;
  } catch {
    return false;
  }
}
