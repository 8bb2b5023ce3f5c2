import { errorMessage } from '../../core/errors.ts';
import type { GcItem, NodeGcReport } from '../../contract/agent-api.ts';
import type { RuntimeDeps } from '../runtime/deps.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import { findGarbage, type Garbage } from './find-garbage.ts';

/**
 * `mvm node gc` on this node: orphan VMMs, cgroups and instance dirs (the reaper's own finder),
 * snapshots no instance wakes from, dead taps and unused image-cache entries. With `dryRun`
 * only lists them. Each removal runs under the lock of the instance it belongs to and checks
 * again there, so it never races a lifecycle step of that instance.
 */
export async function collectNodeGarbage(
  runtime: InstanceRuntime,
  deps: RuntimeDeps,
  options: { dryRun: boolean },
): Promise<NodeGcReport> {
  const found = await findGarbage(deps, await runtime.list());
  const report: NodeGcReport = {
    dryRun: options.dryRun,
    items: [],
    failed: [],
    bytes: 0,
    kept: found.kept,
    notes: found.notes,
  };
  for (const garbage of found.garbage) {
    if (options.dryRun) add(report, garbage.item);
    else await removeOne(runtime, garbage, report);
  }
  if (!options.dryRun && report.items.length + report.failed.length > 0) {
    deps.logger.info(
      { removed: report.items.length, failed: report.failed.length, bytes: report.bytes },
      'node garbage collected',
    );
  }
  return report;
}

function add(report: NodeGcReport, item: GcItem): void {
  report.items.push(item);
  report.bytes += item.bytes ?? 0;
}

async function removeOne(
  runtime: InstanceRuntime,
  garbage: Garbage,
  report: NodeGcReport,
): Promise<void> {
  try {
    const removed =
      garbage.lock === undefined
        ? await garbage.remove()
        : await runtime.locked(garbage.lock, () => garbage.remove());
    if (removed) add(report, garbage.item);
  } catch (error) {
    report.failed.push({ ...garbage.item, error: errorMessage(error) });
  }
}
