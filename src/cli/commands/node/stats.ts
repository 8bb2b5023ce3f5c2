import { defineCommand, option } from '../../command.ts';
import { id } from '../../values.ts';
import { nodeStatsBlocks, tenantStats } from '../../views/report-views.ts';
import { nodeReports } from './node-reports.ts';

export const nodeStats = defineCommand({
  path: ['node', 'stats'],
  description:
    "Per node: capacity held, CPU, memory and disk its VMs use, and each tenant's share (as the agents last reported)",
  args: {},
  options: { node: option(id('node'), 'only this node (default: every node)') },
  output: 'data',
  async handler(ctx, _args, opts) {
    const reports = await nodeReports(ctx, opts.node);
    const now = new Date();
    const data = reports.map((r) => ({
      node: r.node,
      reportedAt: r.reportedAt,
      diskFreeKib: r.disk?.dataDir.freeKib ?? null,
      tenants: tenantStats(r.instances),
    }));
    return {
      data,
      human:
        reports.length === 0
          ? [{ kind: 'text', text: 'no nodes have joined; nothing to report' }]
          : reports.flatMap((r, i) => nodeStatsBlocks(r, data[i]?.tenants ?? [], now)),
    };
  },
});
