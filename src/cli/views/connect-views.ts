import type { InstanceView, PoolDetailView, TenantDetailView } from '../../contract/resources.ts';
import type { Block } from '../render.ts';
import { publishedAccess, publishedBlocks, type PublishedAccess } from './published-views.ts';

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
  /** The coordinator's web dashboard (docs/dashboard.md): log in with the same token. */
  dashboard: string;
  /** When a gateway pool carries openclaw.json: where its Control UI is and how to log in. */
  openclaw?: OpenclawAccess;
  /** The pools' published ports and the nodes forwarding them. */
  published?: PublishedAccess[];
}

export interface OpenclawAccess {
  pool: string;
  /** The gateway's port on its tenant address: reachable from the node running it. */
  urls: string[];
  login: string;
  tunnel: string | null;
}

/** Where the coordinator at `coordinatorUrl` serves its web dashboard. */
export function dashboardUrl(coordinatorUrl: string): string {
  return `${coordinatorUrl.replace(/\/+$/, '')}/ui`;
}

/** How an operator reaches an OpenClaw gateway pool's instances (port 18789 on the tenant net). */
export function openclawAccess(
  tenant: string,
  pool: PoolDetailView,
  instances: readonly InstanceView[],
  port: number,
  addresses: ReadonlyMap<string, string> = new Map(),
): OpenclawAccess {
  const mine = instances.filter((i) => i.poolId === pool.id && i.desiredStatus === 'running');
  const published = publishedAccess([pool], instances, addresses).filter(
    (p) => p.guestPort === port,
  );
  const first = mine[0];
  const onNodes = published.map(
    (p) => `${p.url} on node ${p.nodes.join(', ') || '(none yet)'} (published)`,
  );
  const hostPort = published[0]?.hostPort;
  return {
    pool: pool.id,
    urls: [...onNodes, ...mine.map((i) => `http://${i.ip}:${port}/`)],
    login: `open the URL and paste the gateway token: the secret OPENCLAW_GATEWAY_TOKEN of '${tenant}', printed once by 'mvm new openclaw' when it generated it (replace it with 'mvm secrets rotate ${tenant} OPENCLAW_GATEWAY_TOKEN=@FILE')`,
    tunnel:
      hostPort !== undefined
        ? `ssh -N -L 127.0.0.1:${hostPort}:127.0.0.1:${hostPort} <node ${published[0]?.nodes[0] ?? '?'}>, then http://127.0.0.1:${hostPort}/`
        : first
          ? `ssh -N -L 127.0.0.1:${port}:${first.ip}:${port} <node ${first.nodeId ?? '?'}>, then http://127.0.0.1:${port}/`
          : null,
  };
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
  openclaw: OpenclawAccess | undefined,
  coordinatorUrl: string,
  addresses: ReadonlyMap<string, string> = new Map(),
): ConnectView {
  const published = publishedAccess(pools, instances, addresses);
  return {
    dashboard: dashboardUrl(coordinatorUrl),
    ...(openclaw ? { openclaw } : {}),
    ...(published.length > 0 ? { published } : {}),
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
        ['dashboard', `${view.dashboard} (log in with your API token)`],
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
    ...publishedBlocks(view.published),
    ...openclawBlocks(view.openclaw),
    {
      kind: 'text',
      text: ['next:', ...view.commands.map((c) => `  ${c.command.padEnd(60)} # ${c.what}`)].join(
        '\n',
      ),
    },
  ];
}

function openclawBlocks(access: OpenclawAccess | undefined): Block[] {
  if (!access) return [];
  return [
    {
      kind: 'fields',
      title: `openclaw gateway (${access.pool})`,
      fields: [
        ['control ui', access.urls.join(', ') || 'no running gateway yet'],
        ['log in', access.login],
        ...(access.tunnel ? [['from elsewhere', access.tunnel] as const] : []),
      ],
    },
  ];
}
