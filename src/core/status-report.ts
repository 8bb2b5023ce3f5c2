import type { Instance, InstanceStatus } from './model.ts';

/** What an agent reports of one instance (contract/requests.ts, statusReportSchema). */
export interface ObservedStatus {
  status: InstanceStatus;
  expectedStatus?: InstanceStatus;
  failureReason?: string;
  revision?: string;
}

/**
 * The failure reason a report leaves stored: a failure has one; so may a refused change (a
 * busy guest kept running).
 */
export function reportedFailureReason(report: ObservedStatus): string | null {
  return report.status === 'failed'
    ? (report.failureReason ?? 'unknown')
    : (report.failureReason ?? null);
}

/**
 * Whether a report says only what the store already holds for an instance on the reporting
 * node: the same status (as expected, if it says what it expected), the same failure reason,
 * and no other revision. Such a report changes nothing and is answered from one read; any
 * other goes through the tenant's lock and is decided again there.
 */
export function reportChangesNothing(
  instance: Instance,
  nodeId: string,
  report: ObservedStatus,
): boolean {
  const from = report.expectedStatus ?? instance.status;
  return (
    instance.nodeId === nodeId &&
    from === report.status &&
    instance.status === report.status &&
    instance.failureReason === reportedFailureReason(report) &&
    (report.revision === undefined || report.revision === instance.revision)
  );
}
