import { isMvmError } from '../../core/errors.ts';
import type { DesiredStatus, Instance, Pool } from '../../core/model.ts';
import { compareRolesForSleep, compareRolesForStartup } from '../../core/roles.ts';
import type { LocalAction } from '../../contract/agent-api.ts';
import type { TenantView } from '../../contract/resources.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { DriverLogger } from '../../drivers/process/logger.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';

const actionFor: Record<DesiredStatus, LocalAction> = {
  running: 'start',
  warm: 'warm',
  sleeping: 'sleep',
  stopped: 'stop',
  destroyed: 'destroy',
};

const isUp = (d: DesiredStatus) => d === 'running' || d === 'warm';

export interface ConvergeStep {
  instance: string;
  desired: DesiredStatus;
  status: string;
  error?: string;
}

export interface ConvergeOptions {
  api: ApiClient;
  runtime: InstanceRuntime;
  nodeId: string;
  logger?: DriverLogger;
  /** Called after each instance settles, for progress output. */
  onStep?: (step: ConvergeStep) => void;
}

/**
 * One pass of bringing this node's instances to what the coordinator wants: up-going instances
 * in role order (gateways first), down-going ones in reverse (gateways last), each reported back
 * as observed. The continuous, watch-driven loop of the fleet builds on this pass.
 */
export async function convergeOnce(options: ConvergeOptions): Promise<ConvergeStep[]> {
  const { api } = options;
  const instances = await api.call('listInstances', { query: { node: options.nodeId } });
  const pools = new Map<string, Pool>();
  const tenants = new Map<string, TenantView>();
  for (const instance of instances) {
    const poolKey = `${instance.tenantId}/${instance.poolId}`;
    if (!pools.has(poolKey)) {
      const params = { tenant: instance.tenantId, pool: instance.poolId };
      pools.set(poolKey, await api.call('getPool', { params }));
    }
    if (!tenants.has(instance.tenantId)) {
      tenants.set(
        instance.tenantId,
        await api.call('getTenant', { params: { tenant: instance.tenantId } }),
      );
    }
  }
  const roleOf = (i: Instance) => pools.get(`${i.tenantId}/${i.poolId}`)?.role ?? 'worker';
  const up = instances
    .filter((i) => isUp(i.desiredStatus))
    .sort((a, b) => compareRolesForStartup(roleOf(a), roleOf(b)));
  const down = instances
    .filter((i) => !isUp(i.desiredStatus))
    .sort((a, b) => compareRolesForSleep(roleOf(a), roleOf(b)));
  const steps: ConvergeStep[] = [];
  for (const instance of [...up, ...down]) {
    const pool = pools.get(`${instance.tenantId}/${instance.poolId}`);
    const tenant = tenants.get(instance.tenantId);
    if (!pool || !tenant) continue;
    const step = await convergeInstance(options, instance, pool, tenant);
    steps.push(step);
    options.onStep?.(step);
  }
  return steps;
}

async function convergeInstance(
  options: ConvergeOptions,
  instance: Instance,
  pool: Pool,
  tenant: TenantView,
): Promise<ConvergeStep> {
  const ref = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
  const label = `${ref.tenantId}/${ref.poolId}/${ref.instanceId}`;
  let status: string = instance.status;
  let error: string | undefined;
  try {
    if (instance.desiredStatus !== 'destroyed') {
      await options.runtime.put(ref, {
        spec: {
          role: pool.role,
          vcpus: pool.vcpus,
          memMib: pool.memMib,
          dataDiskMib: Math.max(1, pool.dataDiskMib),
          ip: instance.ip,
          gateway: tenant.gateway,
          mac: instance.mac,
          revision: pool.revision ?? 'dev',
          tenant: { netId: tenant.netId, subnet: tenant.subnet, gateway: tenant.gateway },
        },
      });
    }
    const known = await options.runtime.get(ref).catch(() => undefined);
    const target = instance.desiredStatus;
    const settled = known?.status === target || (target === 'destroyed' && known === undefined);
    status = settled ? target : (await options.runtime.act(ref, actionFor[target])).status;
  } catch (caught) {
    error = isMvmError(caught) || caught instanceof Error ? caught.message : String(caught);
    status = 'failed';
    options.logger?.error({ instance: label, err: caught }, 'converge failed');
  }
  await report(options, instance, status, error);
  return { instance: label, desired: instance.desiredStatus, status, ...(error ? { error } : {}) };
}

async function report(
  options: ConvergeOptions,
  instance: Instance,
  status: string,
  error?: string,
): Promise<void> {
  if (status === instance.status) return;
  const params = {
    node: options.nodeId,
    tenant: instance.tenantId,
    pool: instance.poolId,
    instance: instance.id,
  };
  const body = {
    status: status as Instance['status'],
    expectedStatus: instance.status,
    ...(error ? { failureReason: error.slice(0, 2000) } : {}),
  };
  await options.api.call('reportInstanceStatus', { params, body });
}
