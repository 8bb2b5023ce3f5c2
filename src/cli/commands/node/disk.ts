import { defineCommand, option } from '../../command.ts';
import { id } from '../../values.ts';
import { nodeDiskBlocks } from '../../views/report-views.ts';
import { nodeReports } from './node-reports.ts';

export const nodeDisk = defineCommand({
  path: ['node', 'disk'],
  description:
    "Disk use per node: each tenant's data disks, snapshots and the rest, the shared image cache, orphans and free space (as the agents last reported)",
  args: {},
  options: { node: option(id('node'), 'only this node (default: every node)') },
  output: 'data',
  async handler(ctx, _args, opts) {
    const reports = await nodeReports(ctx, opts.node);
    const now = new Date();
    const data = reports.map((r) => ({
      node: r.node.id,
      status: r.node.status,
      reportedAt: r.reportedAt,
      disk: r.disk,
    }));
    return {
      data,
      human:
        reports.length === 0
          ? [{ kind: 'text', text: 'no nodes have joined; nothing to report' }]
          : reports.flatMap((r) => nodeDiskBlocks(r, now)),
    };
  },
});
