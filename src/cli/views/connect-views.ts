import type { InstanceView, PoolDetailView, TenantDetailView } from '../../contract/resources.ts';
import type { Block } from '../render.ts';

/** `mvm connect <tenant>`: everything needed to start working with a deployment. */
export interface ConnectView {
  tenant: string;
  network: {
    netId: number;
    subnet: string;
    gateway: string;
    bridge: string;
    /** Guests' way out to the world through the host's NAT (`mvm tenant update --egress`). */
    egress: 'on' | 'off';
  };
  pools: Array<{
    id: string;
    role: string;
    vcpus: number;
    memMib: number;
    dataDiskMib: number;
    revision: string | null;
    desired: PoolDetailView['counts'];
    observed: Record<string, number>;
    instances: number;
  }>;
  instances: Array<{
    id: string;
    pool: string;
    path: string;
    status: string;
    desiredStatus: string;
    ip: string;
    mac: string;
    node: string | null;
  }>;
  commands: Array<{ what: string; command: string }>;
}

function commandsFor(
  name: string,
  pools: readonly PoolDetailView[],
  instances: readonly InstanceView[],
) {
  const pool = pools.find((p) => p.id === 'workers') ?? pools[0];
  const poolId = pool?.id ?? '<pool>';
  const one = instances.find((i) => i.poolId === poolId)?.id ?? '<instance>';
  const target = `${name}/${poolId}/${one}`;
  return [
    {
      what: 'set a secret (tenant-wide; <tenant>/<pool> for one pool)',
      command: `mvm secrets set ${name} KEY=VALUE`,
    },
    { what: 'scale', command: `mvm pool scale ${name}/${poolId} --running <n> --warm <n>` },
    { what: 'run a command in an instance', command: `mvm instance exec ${target} -- uname -a` },
    { what: 'open a shell', command: `mvm instance shell ${target}` },
    { what: 'instance details', command: `mvm instance stats ${target}` },
    { what: 'list instances', command: `mvm instance list --tenant ${name}` },
    { what: 'audit trail', command: `mvm events ${name} --last 10` },
  ];
}

export function connectView(
  tenant: TenantDetailView,
  pools: readonly PoolDetailView[],
  instances: readonly InstanceView[],
): ConnectView {
  return {
    tenant: tenant.id,
    network: {
      netId: tenant.netId,
      subnet: tenant.subnet,
      gateway: tenant.gateway,
      bridge: tenant.bridge,
      egress: tenant.egress ? 'on' : 'off',
    },
    pools: pools.map((p) => ({
      id: p.id,
      role: p.role,
      vcpus: p.vcpus,
      memMib: p.memMib,
      dataDiskMib: p.dataDiskMib,
      revision: p.revision,
      desired: p.counts,
      observed: p.statuses,
      instances: p.instances,
    })),
    instances: instances.map((i) => ({
      id: i.id,
      pool: i.poolId,
      path: `${i.tenantId}/${i.poolId}/${i.id}`,
      status: i.status,
      desiredStatus: i.desiredStatus,
      ip: i.ip,
      mac: i.mac,
      node: i.nodeId,
    })),
    commands: commandsFor(tenant.id, pools, instances),
  };
}

const observedText = (observed: Record<string, number>): string =>
  Object.entries(observed)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ') || 'none';

export function connectBlocks(view: ConnectView): Block[] {
  const n = view.network;
  return [
    {
      kind: 'fields',
      title: `deployment '${view.tenant}'`,
      fields: [
        ['gateway ip', n.gateway],
        ['subnet', n.subnet],
        ['bridge', `${n.bridge} (net ${n.netId})`],
        ['egress', n.egress],
      ],
    },
    {
      kind: 'table',
      columns: ['POOL', 'ROLE', 'VCPUS', 'MEM MIB', 'DISK MIB', 'DESIRED', 'OBSERVED'],
      rows: view.pools.map((p) => [
        p.id,
        p.role,
        String(p.vcpus),
        String(p.memMib),
        String(p.dataDiskMib),
        `${p.desired.running} running, ${p.desired.warm} warm, ${p.desired.sleeping} sleeping`,
        observedText(p.observed),
      ]),
      empty: `no pools; create them with 'mvm new openclaw ${view.tenant}' or 'mvm pool create'`,
    },
    {
      kind: 'table',
      columns: ['INSTANCE', 'STATUS', 'DESIRED', 'IP', 'NODE'],
      rows: view.instances.map((i) => [i.path, i.status, i.desiredStatus, i.ip, i.node ?? '-']),
      empty: 'no instances yet: the pools are scaled to 0, or still being created',
    },
    {
      kind: 'text',
      text: ['next:', ...view.commands.map((c) => `  ${c.command.padEnd(60)} # ${c.what}`)].join(
        '\n',
      ),
    },
  ];
}
