import { NotFoundError } from '../../core/errors.ts';
import type { InstanceStatsView, NodeReportView } from '../../contract/node-report.ts';
import type { InstanceKey } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { loadInstance } from './instance-service.ts';

/**
 * What agents report of their disks and VMs with each heartbeat, as the operator reads it:
 * a node's whole report, or one instance's sample beside its record. Read-only; the
 * heartbeat (NodeHealthService) writes the reports.
 */
export class ReportService {
  constructor(private readonly deps: ServiceDeps) {}

  async node(nodeId: string): Promise<NodeReportView> {
    const node = await this.deps.store.nodes.get(nodeId);
    if (!node) throw new NotFoundError('node', nodeId, "see 'mvm node list'");
    const report = await this.deps.store.nodeReports.get(nodeId);
    return {
      node,
      reportedAt: report?.reportedAt ?? null,
      disk: report?.disk ?? null,
      instances: report?.instances ?? [],
    };
  }

  async instance(key: InstanceKey): Promise<InstanceStatsView> {
    const instance = await loadInstance(this.deps.store, key);
    const node =
      instance.nodeId === null ? undefined : await this.deps.store.nodes.get(instance.nodeId);
    const report = node ? await this.deps.store.nodeReports.get(node.id) : undefined;
    const sample = report?.instances.find(
      (s) => s.tenant === key.tenantId && s.pool === key.poolId && s.instance === key.instanceId,
    );
    return {
      instance,
      node: node ? { id: node.id, status: node.status, lastHeartbeat: node.lastHeartbeat } : null,
      reportedAt: report?.reportedAt ?? null,
      sample: sample ?? null,
    };
  }
}
