import type { HeartbeatRequest } from '../../contract/heartbeat.ts';
import type { Repos } from '../../ports/store.ts';

/**
 * Keeps a heartbeat's report as the node's (docs/scale.md, "Delta heartbeats"): a whole one
 * replaces it (unless it is a late beat of the same run), a delta merges into it when it is
 * the delta's base. False when a delta found another base: the report is unchanged and the
 * agent is asked for a whole one.
 */
export async function writeReport(
  repos: Pick<Repos, 'nodeReports'>,
  nodeId: string,
  request: HeartbeatRequest,
  reportedAt: string,
): Promise<boolean> {
  const { report } = request;
  if (report?.base === undefined) {
    const whole = { nodeId, reportedAt, disk: request.disk ?? null, instances: request.instances };
    await repos.nodeReports.put(whole, report && { epoch: report.epoch, seq: report.seq });
    return true;
  }
  return repos.nodeReports.merge({
    nodeId,
    reportedAt,
    epoch: report.epoch,
    seq: report.seq,
    base: report.base,
    changed: request.instances,
    removed: report.removed ?? [],
    ...(request.disk ? { disk: request.disk } : {}),
  });
}
