import type { TenantDetailView, TenantView } from '../../contract/resources.ts';
import type { Block } from '../render.ts';

/** How tenants look to a human. */
export function tenantTable(tenants: readonly TenantView[]): Block {
  return {
    kind: 'table',
    columns: [
      'TENANT',
      'NET',
      'SUBNET',
      'GATEWAY',
      'BRIDGE',
      'MAX VCPUS',
      'MAX MEM MIB',
      'MAX RUNNING',
    ],
    rows: tenants.map((t) => [
      t.id,
      String(t.netId),
      t.subnet,
      t.gateway,
      t.bridge,
      String(t.quotas.maxVcpus),
      String(t.quotas.maxMemMib),
      String(t.quotas.maxRunning),
    ]),
    empty: "no tenants; create one with 'mvm tenant create <id>'",
  };
}

export function tenantFields(tenant: TenantView): Block {
  return {
    kind: 'fields',
    fields: [
      ['tenant', tenant.id],
      ['net id', String(tenant.netId)],
      ['subnet', tenant.subnet],
      ['gateway', tenant.gateway],
      ['bridge', tenant.bridge],
      ['egress', tenant.egress ? 'on' : 'off'],
      [
        'max running jobs',
        tenant.maxRunningJobs == null ? 'no limit' : String(tenant.maxRunningJobs),
      ],
      ['created', tenant.createdAt],
      ['version', String(tenant.version)],
    ],
  };
}

export function tenantUsageTable(tenant: TenantDetailView): Block {
  const { quotas, usage } = tenant;
  return {
    kind: 'table',
    columns: ['QUOTA', 'USED', 'LIMIT'],
    rows: [
      ['vcpus', String(usage.vcpus), String(quotas.maxVcpus)],
      ['memory MiB', String(usage.memMib), String(quotas.maxMemMib)],
      ['running', String(usage.running), String(quotas.maxRunning)],
      ['warm', String(usage.warm), String(quotas.maxWarm)],
      ['pools', String(usage.pools), String(quotas.maxPools)],
      ['instances per pool', '-', String(quotas.maxInstancesPerPool)],
      ['disk GiB', String(usage.diskGib), String(quotas.maxDiskGib)],
    ],
    empty: '',
  };
}

export function tenantDetailBlocks(tenant: TenantDetailView): Block[] {
  return [tenantFields(tenant), tenantUsageTable(tenant)];
}
