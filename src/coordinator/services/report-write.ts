import type { HeartbeatRequest } from '../../contract/heartbeat.ts';
import type { Repos, ReportWrite } from '../../ports/store.ts';

/**
 * What a heartbeat's report does to the node's (docs/scale.md, "Delta heartbeats"): a whole
 * one replaces it (unless it is a late beat of the same run), a delta merges into it when it is
 * the delta's base.
 */
export function reportWrite(
  nodeId: string,
  request: HeartbeatRequest,
  reportedAt: string,
): ReportWrite {
  const { report } = request;
  if (report?.base === undefined) {
    const whole = { nodeId, reportedAt, disk: request.disk ?? null, instances: request.instances };
    return report ? { whole, sequence: { epoch: report.epoch, seq: report.seq } } : { whole };
  }
  return {
    delta: {
      nodeId,
      reportedAt,
      epoch: report.epoch,
      seq: report.seq,
      base: report.base,
      changed: request.instances,
      removed: report.removed ?? [],
      ...(request.disk ? { disk: request.disk } : {}),
    },
  };
}

/**
 * Keeps a heartbeat's report as the node's (reportWrite). False when a delta found another
 * base: the report is unchanged and the agent is asked for a whole one.
 */
export async function writeReport(
  repos: Pick<Repos, 'nodeReports'>,
  nodeId: string,
  request: HeartbeatRequest,
  reportedAt: string,
): Promise<boolean> {
  const write = reportWrite(nodeId, request, reportedAt);
  if ('delta' in write) return repos.nodeReports.merge(write.delta);
  await repos.nodeReports.put(write.whole, write.sequence);
  return true;
}
