import type {
  DiskReport,
  InstanceSample,
  InstanceStatsView,
  NodeReportView,
  Space,
} from '../../contract/node-report.ts';
import type { Block } from '../render.ts';
import { instanceStatuses } from '../../core/model.ts';
import { instancePathOf } from './instance-views.ts';
import { ageOf } from './node-views.ts';

/** KiB as a human reads it: `812 KiB`, `3.4 MiB`, `1.2 GiB`. */
export function kibText(kib: number): string {
  if (kib < 1024) return `${kib} KiB`;
  if (kib < 1024 ** 2) return `${(kib / 1024).toFixed(1)} MiB`;
  if (kib < 1024 ** 3) return `${(kib / 1024 ** 2).toFixed(1)} GiB`;
  return `${(kib / 1024 ** 3).toFixed(1)} TiB`;
}

const spaceText = (s: Space): string => `${s.count} (${kibText(s.kib)})`;

/** Thousandths of one CPU as a percentage of one CPU: `12.5%`. */
export const cpuText = (permille: number | undefined): string =>
  permille === undefined ? '-' : `${(permille / 10).toFixed(1)}%`;

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** `mvm node disk`: one node's disk by tenant, its image cache and its orphans. */
export function nodeDiskBlocks(view: NodeReportView, now: Date): Block[] {
  const title = `node ${view.node.id} (${view.node.status})`;
  const disk = view.disk;
  if (disk === null) {
    return [
      {
        kind: 'text',
        text: `${title}: no disk report yet (its agent sends one with every heartbeat)`,
      },
    ];
  }
  const artifactsKib = sum(Object.values(disk.artifacts).map((a) => a.kib));
  return [
    {
      kind: 'fields',
      title,
      fields: [
        ['reported', `${view.reportedAt ?? '-'} (${ageOf(view.reportedAt, now)})`],
        ['data dir', filesystemText(disk.dataDir)],
        ['cache dir', filesystemText(disk.cacheDir)],
        ['tenants', `${kibText(sum(disk.tenants.map(tenantKib)))} in ${disk.tenants.length}`],
        ['artifacts', kibText(artifactsKib)],
        ['orphans', `${spaceText(disk.orphans)} instance dirs no record owns (mvm node gc)`],
      ],
    },
    tenantDiskTable(disk),
    artifactTable(disk),
  ];
}

function filesystemText(fs: DiskReport['dataDir']): string {
  return `${fs.path}: ${kibText(fs.freeKib)} free of ${kibText(fs.totalKib)}`;
}

const tenantKib = (t: DiskReport['tenants'][number]): number =>
  t.dataDisks.kib + t.snapshots.kib + t.other.kib;

function tenantDiskTable(disk: DiskReport): Block {
  return {
    kind: 'table',
    columns: ['TENANT', 'INSTANCES', 'DATA DISKS', 'SNAPSHOTS', 'OTHER', 'TOTAL', 'REVISIONS'],
    rows: disk.tenants.map((t) => [
      t.tenant,
      String(t.instances),
      spaceText(t.dataDisks),
      spaceText(t.snapshots),
      kibText(t.other.kib),
      kibText(tenantKib(t)),
      t.revisions.map((r) => (r.length > 12 ? r.slice(0, 12) : r)).join(','),
    ]),
    empty: 'no instances on this node',
  };
}

function artifactTable(disk: DiskReport): Block {
  const a = disk.artifacts;
  const rows: Array<[string, Space]> = [
    ['images', a.images],
    ['init drives', a.initDrives],
    ['kernels', a.kernels],
    ['guest agents', a.guestAgents],
    ['other (staging, index)', a.other],
  ];
  return {
    kind: 'table',
    columns: ['ARTIFACTS (shared)', 'COUNT', 'SIZE'],
    rows: rows.map(([name, s]) => [name, String(s.count), kibText(s.kib)]),
    empty: '',
  };
}

/** One tenant's instances on a node, as `mvm node stats` sums them from the samples. */
export interface TenantNodeStats {
  tenant: string;
  instances: number;
  statuses: Record<string, number>;
  cpuPermille: number;
  rssKib: number;
  diskKib: number;
  snapshotKib: number;
}

export function tenantStats(samples: readonly InstanceSample[]): TenantNodeStats[] {
  const byTenant = new Map<string, TenantNodeStats>();
  for (const s of samples) {
    const t = byTenant.get(s.tenant) ?? {
      tenant: s.tenant,
      instances: 0,
      statuses: {},
      cpuPermille: 0,
      rssKib: 0,
      diskKib: 0,
      snapshotKib: 0,
    };
    t.instances += 1;
    const status = s.status ?? 'unknown';
    t.statuses[status] = (t.statuses[status] ?? 0) + 1;
    t.cpuPermille += s.cpuPermille ?? 0;
    t.rssKib += s.rssKib ?? 0;
    t.diskKib += s.diskKib ?? 0;
    t.snapshotKib += s.snapshotKib ?? 0;
    byTenant.set(s.tenant, t);
  }
  return [...byTenant.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
}

/** In lifecycle order, whatever order the samples came in (a report is kept by key). */
const rank = (status: string): number => (instanceStatuses as readonly string[]).indexOf(status);
const statusesText = (statuses: Record<string, number>): string =>
  Object.entries(statuses)
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');

/** `mvm node stats`: the node's totals, then what each tenant's instances use on it. */
export function nodeStatsBlocks(
  view: NodeReportView,
  tenants: readonly TenantNodeStats[],
  now: Date,
): Block[] {
  const n = view.node;
  const usage = n.usage;
  return [
    {
      kind: 'fields',
      title: `node ${n.id} (${n.status})`,
      fields: [
        ['heartbeat', ageOf(n.lastHeartbeat, now)],
        ['vcpus', usage ? `${usage.vcpus}/${n.capacity.vcpus} held` : String(n.capacity.vcpus)],
        [
          'memory',
          usage ? `${usage.memMib}/${n.capacity.memMib} MiB held` : `${n.capacity.memMib} MiB`,
        ],
        ['cpu used', cpuText(sum(tenants.map((t) => t.cpuPermille)))],
        ['rss', kibText(sum(tenants.map((t) => t.rssKib)))],
        [
          'disk free',
          view.disk ? kibText(view.disk.dataDir.freeKib) : usage ? `${usage.diskFreeMib} MiB` : '-',
        ],
        ['instances', usage ? statusesText(usage.instances) || 'none' : 'not reported yet'],
      ],
    },
    {
      kind: 'table',
      columns: ['TENANT', 'INSTANCES', 'STATUSES', 'CPU', 'RSS', 'DATA DISKS', 'SNAPSHOTS'],
      rows: tenants.map((t) => [
        t.tenant,
        String(t.instances),
        statusesText(t.statuses),
        cpuText(t.cpuPermille),
        kibText(t.rssKib),
        kibText(t.diskKib),
        kibText(t.snapshotKib),
      ]),
      empty: 'no instances reported on this node',
    },
  ];
}

/** Seconds since an ISO time as `3h 12m`, `4m 10s`, `12s`. */
export function uptimeText(since: string | null, now: Date): string {
  if (since === null) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(since)) / 1000));
  if (Number.isNaN(s)) return '-';
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

const UP = new Set(['running', 'warm']);

/** `mvm instance stats`: the record, where it runs, and what its node last saw of it. */
export function instanceStatsFields(view: InstanceStatsView, now: Date): Block {
  const { instance: i, sample, node } = view;
  const s: Partial<InstanceSample> = sample ?? {};
  return {
    kind: 'fields',
    title: instancePathOf(i),
    fields: [
      ['status', `${i.status} (desired ${i.desiredStatus})`],
      ...(i.failureReason === null ? [] : [['failure', i.failureReason] as const]),
      [
        'node',
        node
          ? `${node.id} (${node.status}, heartbeat ${ageOf(node.lastHeartbeat, now)})`
          : '(not placed)',
      ],
      ['pid', s.pid === undefined ? '-' : String(s.pid)],
      ['ip', i.ip],
      ['mac', i.mac],
      ['tap', s.tap ?? '-'],
      ['uptime', UP.has(i.status) ? uptimeText(i.statusSince, now) : '-'],
      ['last active', ageOf(i.lastActiveAt, now)],
      ['cpu', cpuText(s.cpuPermille)],
      ['memory', s.rssKib === undefined ? '-' : `${kibText(s.rssKib)} resident`],
      ['data disk', s.diskKib === undefined ? '-' : kibText(s.diskKib)],
      ['snapshot', s.snapshotKib === undefined ? '-' : kibText(s.snapshotKib)],
      ['reported', view.reportedAt === null ? 'never' : ageOf(view.reportedAt, now)],
    ],
  };
}
