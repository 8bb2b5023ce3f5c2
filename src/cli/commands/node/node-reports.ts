import type { NodeReportView } from '../../../contract/node-report.ts';
import type { CommandContext } from '../../command.ts';

/** The latest report of one node, or of every node (in id order) when none is named. */
export async function nodeReports(
  ctx: CommandContext,
  nodeId: string | undefined,
): Promise<NodeReportView[]> {
  const client = ctx.client();
  const ids =
    nodeId !== undefined ? [nodeId] : (await client.call('listNodes', {})).map((n) => n.id);
  const reports: NodeReportView[] = [];
  for (const node of ids) reports.push(await client.call('getNodeReport', { params: { node } }));
  return reports;
}
